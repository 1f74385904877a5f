/** The bench table's bytes/step column: filled where a step moves bytes to and from a GPU, empty on the CPU. */
import { describe, expect, it } from 'vitest';
import { formatTable } from '../../bench/table.js';

describe('the bench table', () => {
  it('says the bytes one step moves on a GPU, and nothing on the CPU', () => {
    const row = { engine: 'ort', model: 'darknet-tiny', layer: 'conv2d_16', size: 56, batch: 2, seconds_per_step: 3.3 };
    const table = formatTable([{ ...row, device: 'cpu' }, { ...row, device: 'webgpu', bytes_per_step: { to_device: 8, to_host: 230_000 } }], 'seconds_per_step').split('\n');
    expect(table[0].trimEnd().endsWith('bytes/step')).toBe(true);
    expect(table[2].endsWith('cpu')).toBe(true);
    expect(table[3]).toMatch(/webgpu +8 bytes in, 0.230 MB out$/);
  });
});
