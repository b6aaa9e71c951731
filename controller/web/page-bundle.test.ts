import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { GENERATED_FILE, bundlePage, renderGeneratedModule } from './build-page.js';
import { APP_JS } from './page-bundle.generated.js';

describe('the fleet page script', () => {
  it('is generated from controller/web/page (run: npx tsx controller/web/build-page.ts)', async () => {
    const js = await bundlePage();
    expect(await readFile(GENERATED_FILE, 'utf8')).toBe(renderGeneratedModule(js));
    expect(APP_JS).toBe(js);
  });

  it('stays small and loads nothing from elsewhere', () => {
    expect(APP_JS.length).toBeLessThan(32 * 1024);
    expect(APP_JS).not.toMatch(/https?:\/\/(?!\$\{)/);
    expect(APP_JS).not.toMatch(/\bimport\s*\(|\bimport\s+[\w{*]/);
  });
});
