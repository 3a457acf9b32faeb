import { createWriteStream, existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readlink, rename, symlink, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, Transform } from 'node:stream';
import { z } from 'zod';

/**
 * Downloads a model repository from the Hugging Face hub into the hub cache, in the layout the
 * Python library (and so mlx_lm) reads: `models--org--name/blobs/<etag>`, `snapshots/<commit>/<file>`
 * as relative links to the blobs, `refs/<revision>` holding the commit. A file cut off mid-way is
 * resumed from its `.incomplete` blob (as the Python library does) with an HTTP range.
 *
 * Why not `@huggingface/hub`: its `snapshotDownload` writes this layout but reports no progress
 * and starts an interrupted file over; a multi-gigabyte first download needs both.
 */
export interface PullOptions {
  /** The hub (HF_ENDPOINT; default https://huggingface.co). */
  endpoint: string;
  cacheDir: string;
  revision?: string;
  /** HF_TOKEN, for gated and private repositories. */
  token?: string;
  signal?: AbortSignal;
  onProgress?(progress: PullProgress): void;
  /** Longest silence from the hub mid-file before the transfer counts as stalled. */
  stallMs?: number;
}

export interface PullProgress {
  file: string;
  /** Bytes of the whole repository on disk so far, and in all. */
  doneBytes: number;
  totalBytes: number;
  /** Bytes per second over the transfer so far (resumed bytes excluded). */
  rate: number;
}

export interface PullResult {
  snapshot: string;
  files: number;
  totalBytes: number;
  /** Bytes that came over the network this time (0 when everything was cached). */
  transferredBytes: number;
}

export class PullError extends Error {
  override name = 'PullError';
}

const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

export const isRepoId = (model: string): boolean => REPO_ID.test(model) && !model.includes('..');

export const repoFolder = (cacheDir: string, repo: string) => join(cacheDir, `models--${repo.replaceAll('/', '--')}`);

/** Whether the revision's snapshot is in the cache already: its ref, its folder, no file still incomplete. */
export function isCached(repo: string, cacheDir: string, revision = 'main'): boolean {
  const folder = repoFolder(cacheDir, repo);
  try {
    const commit = /^[0-9a-f]{40}$/.test(revision) ? revision : readFileSync(join(folder, 'refs', revision), 'utf8').trim();
    return existsSync(join(folder, 'snapshots', commit, 'config.json'));
  } catch {
    return false;
  }
}

interface FileEntry {
  path: string;
  url: string;
  etag: string;
  size: number;
}

export async function pullModel(repo: string, options: PullOptions): Promise<PullResult> {
  if (!isRepoId(repo)) throw new PullError(`"${repo}" is not a Hugging Face repo id (org/name)`);
  const revision = options.revision ?? 'main';
  const headers: Record<string, string> = options.token ? { authorization: `Bearer ${options.token}` } : {};
  const folder = repoFolder(options.cacheDir, repo);
  const answer = revisionInfo.safeParse(await hubJson(`${options.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}`, headers, repo, options.signal));
  if (!answer.success || answer.data.siblings.length === 0) throw new PullError(`the hub's answer for ${repo} names no commit or no files`);
  const commit = answer.data.sha;
  const names = answer.data.siblings.map((sibling) => sibling.rfilename);
  // Each part of a name becomes a path component in the cache: none may be empty, ".", "..", or hold a backslash.
  for (const name of names) if (name.split('/').some((part) => part === '' || part === '.' || part === '..' || part.includes('\\'))) throw new PullError(`the hub listed a file outside the repository: ${JSON.stringify(name)}`);

  const files: FileEntry[] = [];
  for (const name of names) files.push(await describeFile(`${options.endpoint}/${repo}/resolve/${commit}/${name.split('/').map(encodeURIComponent).join('/')}`, name, headers, options.signal));
  const totalBytes = files.reduce((sum, file) => sum + file.size, 0);
  const started = performance.now();
  let transferred = 0;
  let done = 0;
  /** `onDisk` of the file's bytes are there, `arrived` of them over the network in this file so far. */
  const report = (file: FileEntry, onDisk: number, arrived: number) =>
    options.onProgress?.({ file: file.path, doneBytes: done + onDisk, totalBytes, rate: (transferred + arrived) / Math.max(0.001, (performance.now() - started) / 1000) });
  for (const file of files) {
    const blob = join(folder, 'blobs', file.etag);
    if (!existsSync(blob)) transferred += await download(file, blob, headers, options, (onDisk, arrived) => report(file, onDisk, arrived));
    await link(join(folder, 'snapshots', commit, ...file.path.split('/')), blob);
    report(file, file.size, 0);
    done += file.size;
  }
  if (revision !== commit) {
    await mkdir(join(folder, 'refs'), { recursive: true });
    await writeFile(join(folder, 'refs', revision), commit);
  }
  return { snapshot: join(folder, 'snapshots', commit), files: files.length, totalBytes, transferredBytes: transferred };
}

/** The hub's answer about a revision: its commit and its files (other fields are ignored). */
const revisionInfo = z.object({ sha: z.string().regex(/^[0-9a-f]{40}$/), siblings: z.array(z.object({ rfilename: z.string().min(1) })) });

/** A hub call that is not a transfer: answered within this, or given up. */
const CALL_MS = 30_000;

async function hubJson(url: string, headers: Record<string, string>, repo: string, signal?: AbortSignal): Promise<unknown> {
  const response = await hubFetch(url, { headers }, signal, CALL_MS);
  if (response.status === 401 || response.status === 403 || response.status === 404) {
    throw new PullError(`the hub has no model "${repo}" that mlx-guard may read (HTTP ${response.status}): check the name; a gated or private one needs HF_TOKEN`);
  }
  if (!response.ok) throw new PullError(`the hub answered HTTP ${response.status} for ${repo}; try again later`);
  return response.json().catch(() => undefined);
}

/** The file's blob name and size, as the Python library takes them: the linked (LFS) ETag and size when there are, else the plain ones. */
async function describeFile(url: string, path: string, headers: Record<string, string>, signal?: AbortSignal): Promise<FileEntry> {
  const response = await hubFetch(url, { method: 'HEAD', headers: { ...headers, 'accept-encoding': 'identity' }, redirect: 'manual' }, signal, CALL_MS);
  if (response.status >= 400) throw new PullError(`the hub answered HTTP ${response.status} for ${path}`);
  const etag = (response.headers.get('x-linked-etag') ?? response.headers.get('etag') ?? '').replace(/^W\//, '').replaceAll('"', '');
  const size = Number(response.headers.get('x-linked-size') ?? response.headers.get('content-length'));
  // The ETag names the blob file: one path component, never "." or "..".
  if (!/^[\w.-]{1,128}$/.test(etag) || /^\.+$/.test(etag) || !Number.isSafeInteger(size) || size < 0) throw new PullError(`the hub gave no usable ETag or size for ${path} (ETag ${JSON.stringify(etag.slice(0, 80))}, size ${JSON.stringify(size)})`);
  return { path, url, etag, size };
}

/** Into `<blob>.incomplete`, from where an earlier attempt stopped; renamed to the blob once whole. */
async function download(file: FileEntry, blob: string, headers: Record<string, string>, options: PullOptions, onBytes: (onDisk: number, arrived: number) => void): Promise<number> {
  const partial = `${blob}.incomplete`;
  await mkdir(dirname(blob), { recursive: true });
  let have = existsSync(partial) ? statSync(partial).size : 0;
  if (have > file.size) {
    await unlink(partial);
    have = 0;
  }
  let received = 0;
  if (have < file.size) {
    const stall = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stall.signal]) : stall.signal;
    const response = await hubFetch(file.url, { headers: { ...headers, 'accept-encoding': 'identity', ...(have > 0 ? { range: `bytes=${have}-` } : {}) } }, signal, CALL_MS);
    if (response.status !== 200 && response.status !== 206) throw new PullError(`the hub answered HTTP ${response.status} for ${file.path}`);
    if (response.status === 200) have = 0; // no range support: the whole file again
    let timer = setTimeout(() => stall.abort(), options.stallMs ?? 60_000);
    const count = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        clearTimeout(timer);
        timer = setTimeout(() => stall.abort(), options.stallMs ?? 60_000);
        received += chunk.length;
        // Stopped the moment it passes what the hub declared, not after writing all of it.
        if (have + received > file.size) return callback(new PullError(`the hub sent more than the ${file.size} bytes it declared for ${file.path}; stopped, and the partial file removed`));
        onBytes(have + received, received);
        callback(null, chunk);
      },
    });
    try {
      await pipeline(Readable.fromWeb(response.body as never), count, createWriteStream(partial, { flags: have > 0 ? 'a' : 'w' }));
    } catch (error) {
      if (stall.signal.aborted && !options.signal?.aborted) throw new PullError(`the hub sent nothing for ${file.path} for ${(options.stallMs ?? 60_000) / 1000} s; run the same command again to resume`);
      if (error instanceof PullError) await unlink(partial).catch(() => undefined);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
  const size = statSync(partial).size;
  if (size !== file.size) throw new PullError(`${file.path} arrived with ${size} of ${file.size} bytes; run the same command again to resume`);
  await rename(partial, blob);
  return received;
}

/** `snapshots/<commit>/<path>` → the blob, as a relative link (the cache can move). */
async function link(pointer: string, blob: string): Promise<void> {
  await mkdir(dirname(pointer), { recursive: true });
  const target = relative(dirname(pointer), blob).split(sep).join('/');
  try {
    if ((await readlink(pointer)) === target) return;
    await unlink(pointer);
  } catch {
    // No link there yet.
  }
  await symlink(target, pointer);
}

/**
 * A request whose headers must come within `headersMs` (the body, a transfer, is the caller's to
 * time; `signal` still ends it, body included). A timer of its own, not AbortSignal.timeout: combined with AbortSignal.any on Node 20 the
 * latter can be collected before it fires.
 */
async function hubFetch(url: string, init: RequestInit, signal: AbortSignal | undefined, headersMs: number): Promise<Response> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), headersMs);
  const onAbort = () => deadline.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await fetch(url, { ...init, signal: deadline.signal });
  } catch (error) {
    signal?.removeEventListener('abort', onAbort);
    if (signal?.aborted) throw error;
    const why = deadline.signal.aborted ? `no answer within ${headersMs / 1000} s` : (error as Error).message;
    throw new PullError(`cannot reach the hub at ${new URL(url).origin}: ${why}; check the network (or HF_ENDPOINT)`);
  } finally {
    clearTimeout(timer);
  }
}
