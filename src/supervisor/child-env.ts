/**
 * What the model server inherits of mlx-guard's environment: what Python, Hugging Face, MLX and
 * the network need, and nothing else. mlx-guard's own settings (its admin token among them) and
 * whatever else the shell holds stay behind: a child is not told secrets it has no use for.
 */
const EXACT = new Set([
  'PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'TZ', 'TMPDIR', 'TERM',
  'VIRTUAL_ENV', 'CONDA_PREFIX', 'CONDA_DEFAULT_ENV', 'PYTHONPATH', 'PYTHONHOME', 'PYTHONWARNINGS',
  'SSL_CERT_FILE', 'SSL_CERT_DIR', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE',
  'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'all_proxy',
  'HUGGING_FACE_HUB_TOKEN', 'XDG_CACHE_HOME', '__CF_USER_TEXT_ENCODING',
  // mlx.launch reaches the other hosts of a distributed model server over ssh.
  'SSH_AUTH_SOCK',
]);
const PREFIXES = ['LC_', 'HF_', 'TRANSFORMERS_', 'MLX_', 'METAL_', 'OMP_', 'TOKENIZERS_'];
const NEVER_PREFIX = 'MLX_GUARD_';

export function childEnvironment(parent: NodeJS.ProcessEnv, own: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(parent)) {
    if (value === undefined || name.startsWith(NEVER_PREFIX)) continue;
    if (EXACT.has(name) || PREFIXES.some((prefix) => name.startsWith(prefix))) env[name] = value;
  }
  return { ...env, ...own };
}
