import { existsSync } from 'node:fs';
import type { Logger } from '../observability/logger.js';
import { SupervisorFatalError, type Prepare, type Progress } from '../supervisor/index.js';
import { formatBytes, formatDuration } from './format.js';
import { hubCacheDir } from './paths.js';
import { isCached, isRepoId, PullError, pullModel, type PullProgress } from './pull.js';

/** The hub to download from: HF_ENDPOINT, as the Python library reads it. */
export const hubEndpoint = (env: NodeJS.ProcessEnv) => (env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');

/** One line of a download's progress: bytes, rate, time left. */
export function describePull(repo: string, progress: PullProgress): Progress {
  const { doneBytes, totalBytes, rate } = progress;
  const left = rate > 0 ? formatDuration((totalBytes - doneBytes) / rate) : '?';
  return {
    phase: 'download',
    percent: totalBytes > 0 ? (doneBytes / totalBytes) * 100 : 100,
    text: `${repo}: ${formatBytes(doneBytes)} of ${formatBytes(totalBytes)}, ${formatBytes(rate)}/s, ${left} left`,
  };
}

/**
 * Before the first launch of mlx_lm.server with a model that is a hub repo id and not in the
 * cache: download it, with progress, so the start deadline covers loading and not a
 * multi-gigabyte download (which mlx_lm would restart from zero each time the deadline cut it).
 */
export function modelDownload(model: string | undefined, logger: Logger, env: NodeJS.ProcessEnv = process.env): Prepare {
  return async (backend, report) => {
    if (backend !== 'mlx' || model === undefined || existsSync(model) || !isRepoId(model)) return;
    const cacheDir = hubCacheDir(env);
    if (isCached(model, cacheDir)) return;
    logger.info({ event: 'model_download', model, cacheDir }, `${model} is not in the Hugging Face cache (${cacheDir}): downloading it before the model server starts`);
    let loggedAt = 0;
    try {
      const result = await pullModel(model, {
        endpoint: hubEndpoint(env),
        cacheDir,
        ...(env.HF_TOKEN ? { token: env.HF_TOKEN } : {}),
        onProgress: (progress) => {
          const described = describePull(model, progress);
          report(described);
          if (performance.now() - loggedAt >= 10_000) {
            loggedAt = performance.now();
            logger.info({ event: 'model_download_progress', model, doneBytes: progress.doneBytes, totalBytes: progress.totalBytes }, described.text);
          }
        },
      });
      logger.info({ event: 'model_downloaded', model, ...result }, `${model}: ${result.files} files, ${formatBytes(result.totalBytes)} in the cache`);
    } catch (error) {
      if (!(error instanceof PullError)) throw error;
      throw new SupervisorFatalError('model_download_failed', `${error.message} (what arrived is kept: the next start resumes the download)`);
    }
  };
}
