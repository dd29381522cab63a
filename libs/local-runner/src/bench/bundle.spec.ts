import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleForNode } from './bundle';

describe('bundling for the bench', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bundle-spec-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('keeps each source file’s own __dirname and __filename in one bundle, as the runner’s servers need', async () => {
    await mkdir(join(dir, 'lib'));
    await writeFile(join(dir, 'lib', 'where.ts'), 'export const where = (): string[] => [__dirname, __filename];\n');
    await writeFile(
      join(dir, 'main.ts'),
      "import { where } from './lib/where';\nconst here: string = __dirname;\nconsole.log(JSON.stringify([here, ...where()]));\n",
    );
    const out = await bundleForNode({
      entry: join(dir, 'main.ts'),
      outfile: join(dir, 'out', 'b.js'),
      packages: 'bundle',
    });
    expect(JSON.parse(execFileSync(process.execPath, [out], { encoding: 'utf8' }))).toEqual([
      dir,
      join(dir, 'lib'),
      join(dir, 'lib', 'where.ts'),
    ]);
  });
});
