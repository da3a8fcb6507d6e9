/**
 * Data extents of a raw image file, so a merge copies only what a sparse
 * raw base holds (a 100 GiB LUN with little data merges fast). Node has no
 * lseek(SEEK_DATA/SEEK_HOLE) (see src/lun/raw-store.ts), so one perl
 * process walks the file with sysseek whence 3/4 (Linux SEEK_DATA and
 * SEEK_HOLE, lseek(2)) and prints "start end" lines. Without perl, or on an
 * error, the whole file counts as data (the merge still skips all-zero
 * chunks, and reading a hole costs no disk I/O).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';

export interface Extent {
  offset: number;
  length: number;
}

const WALK = [
  'open(my $f, "<", $ARGV[0]) or exit 3;',
  'my $size = -s $f; my $pos = 0;',
  'while ($pos < $size) {',
  '  my $d = sysseek($f, $pos, 3);',
  '  if (!defined $d) { exit($!{ENXIO} ? 0 : 4); }',
  '  my $h = sysseek($f, $d, 4); $h = $size unless defined $h;',
  '  print 0 + $d, " ", 0 + $h, "\\n"; $pos = $h;',
  '}',
].join('\n');

export async function rawDataExtents(file: string, size: number): Promise<Extent[]> {
  const st = await fs.stat(file);
  if (st.blocks === 0) return [];
  const whole = [{ offset: 0, length: size }];
  const text = await new Promise<string | null>((resolve) => {
    execFile('perl', ['-e', WALK, file], { maxBuffer: 64 << 20 }, (err, stdout) => resolve(err ? null : stdout));
  });
  if (text === null) return whole;
  const out: Extent[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+) (\d+)$/.exec(line);
    if (!m) continue;
    const a = Math.min(Number(m[1]), size);
    const b = Math.min(Number(m[2]), size);
    if (b > a) out.push({ offset: a, length: b - a });
  }
  return out;
}
