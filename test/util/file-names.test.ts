/**
 * The file-name rule of every derived file (pipeline/util/file-names.ts): bounded, distinct for
 * distinct inputs, stable, and the same names as before for the names datasets and models have today.
 */
import { describe, expect, it } from 'vitest';
import { MAX_SAFE_NAME, MAX_STEM, safeFileName } from '../../pipeline/util/file-names.js';

describe('safeFileName', () => {
  it('keeps a short safe name as it is (the thumbnails of existing atlases keep their names)', () => {
    for (const name of ['n01440764_10026.JPEG', 'leaky_re_lu_2', 'chelsea-conv2d_16', 'a'.repeat(MAX_STEM)]) expect(safeFileName(name)).toBe(name);
  });

  it('gives a name with other characters the stem and hash examples.ts gave it before', () => {
    // examples.ts before the rule: `${safe}-${sha256(file).slice(0, 8)}`.
    expect(safeFileName('a b.jpg')).toBe('a_b.jpg-1f97f74b');
    expect(safeFileName('a_b.jpg')).toBe('a_b.jpg');
    expect(safeFileName('cats/tabby.png')).toMatch(/^cats_tabby\.png-[0-9a-f]{8}$/);
  });

  it('bounds every name, whatever the input', () => {
    const inputs = ['x'.repeat(240), 'é'.repeat(300), '/'.repeat(1000), '', '.', '..', `${'y'.repeat(MAX_STEM)}z`];
    for (const input of inputs) {
      const name = safeFileName(input);
      expect(name.length).toBeLessThanOrEqual(MAX_SAFE_NAME);
      expect(Buffer.byteLength(name)).toBe(name.length);
      expect(name).toMatch(/^[A-Za-z0-9._-]+$/);
      expect(name).not.toMatch(/^\.+$/);
    }
    // 255 bytes is ext4's limit: the longest name plus ".webp" and a temporary suffix fits.
    expect(`${safeFileName('x'.repeat(240))}.webp.4194304.348c5d7b.tmp`.length).toBeLessThan(255);
  });

  it('keeps distinct inputs apart, including those that sanitise or truncate alike', () => {
    const long = 'p'.repeat(MAX_STEM + 50);
    const inputs = ['a b.jpg', 'a_b.jpg', 'a+b.jpg', 'a/b.jpg', `${long}1.jpg`, `${long}2.jpg`, 'x'.repeat(MAX_STEM + 1), 'x'.repeat(MAX_STEM + 2), '.', '..', ''];
    const names = inputs.map(safeFileName);
    expect(new Set(names).size).toBe(inputs.length);
  });

  it('is stable: the same input gives the same name in every run', () => {
    expect(safeFileName('é'.repeat(300))).toBe(safeFileName('é'.repeat(300)));
    expect(safeFileName('x'.repeat(240))).toBe(`${'x'.repeat(MAX_STEM)}-${safeFileName('x'.repeat(240)).slice(-8)}`);
  });
});
