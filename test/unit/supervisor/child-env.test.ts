import { describe, expect, it } from 'vitest';
import { childEnvironment } from '../../../src/supervisor/child-env.js';

describe('childEnvironment', () => {
  it('keeps what Python, Hugging Face, MLX and the network need; drops mlx-guard\'s own settings and everything else', () => {
    const env = childEnvironment(
      { PATH: '/bin', HOME: '/h', LC_ALL: 'C', HF_TOKEN: 'hf', HF_HOME: '/hf', MLX_METAL_DEBUG: '1', HTTPS_PROXY: 'p', VIRTUAL_ENV: '/v', MLX_GUARD_ADMIN_TOKEN: 'secret', MLX_GUARD_PORT: '1', AWS_SECRET_ACCESS_KEY: 'aws', NODE_OPTIONS: '--x' },
      { PYTHONUNBUFFERED: '1' },
    );
    expect(env).toEqual({ PATH: '/bin', HOME: '/h', LC_ALL: 'C', HF_TOKEN: 'hf', HF_HOME: '/hf', MLX_METAL_DEBUG: '1', HTTPS_PROXY: 'p', VIRTUAL_ENV: '/v', PYTHONUNBUFFERED: '1' });
  });
});
