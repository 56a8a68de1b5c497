# Generates the test images and snapshots into $1 (sourced by the tests).
make_images() {
  local out="$1"
  mkdir -p "$out/www/limited" "$out/www/private"
  python3 - "$out" <<'PY'
import os, random, sys
out = sys.argv[1]
rng = random.Random(7)
text = b"".join(b"line %08d of a structured log file, compressible\n" % i for i in range(120000))
rand = rng.randbytes(6 << 20)
disk = text + bytes(3 << 20) + rand + text[: 2 << 20]
open(os.path.join(out, "disk.img"), "wb").write(disk)
# The next version of the disk: a few changed regions (for the thin snapshot).
d2 = bytearray(disk)
for off in (100000, 5 << 20, 9 << 20):
    d2[off:off + 70000] = rng.randbytes(70000)
open(os.path.join(out, "disk2.img"), "wb").write(bytes(d2))
PY
  "$HEXZ" pack -q --disk "$out/disk.img" -o "$out/www/base.hxz"
  "$HEXZ" pack -q --disk "$out/disk2.img" --base "$out/www/base.hxz" -o "$out/www/thin.hxz"
  "$HEXZ" pack -q --disk "$out/disk.img" --compression zstd -o "$out/www/other.hxz"
  cp "$out/www/base.hxz" "$out/www/limited/base.hxz"
  cp "$out/www/base.hxz" "$out/www/private/base.hxz"
}
