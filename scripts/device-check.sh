#!/usr/bin/env bash
# The GPU check (issue 11), in two halves:
#
#   scripts/device-check.sh pack
#       HERE (Node, npm install done): packs into .device-pack/ (git-ignored) what a bare GPU machine
#       needs: this Node binary, the project modules and packages the check imports (onnxruntime-node
#       with its linux-x64 binaries only), all in payload.tar.xz, and the Vulkan loader .deb
#       (apt-get download libvulkan1). Fails unless the folder is under 60 MiB.
#
#   scripts/device-check.sh run [--device webgpu|cpu|auto|cuda] [--quick] [--size 224] [--batch 8]
#                               [--budget-seconds 420] [--out DIR] [--keep]
#       THERE (no Node, no npm, no downloads; Python with PyTorch): unpacks the payload into a temporary
#       folder, makes Vulkan reachable (the .deb's loader when the machine has none; NVIDIA's Vulkan
#       driver registered when the driver library is there but its ICD file is not), generates VGG16-BN
#       weights and PyTorch's reference and timings (scripts/device_check_torch.py, CUDA when present),
#       then runs bench/device/check.ts on the device and prints one JSON summary (also written to
#       DIR/device-check.json; DIR defaults to $OUT when set, else .device-check-out). --quick is the dry
#       run: 2 scales x 2 steps from 56 px instead of the article's 12 x 20, one timed step. With
#       --quick, --size N (32-224) and --batch B (1-18) shrink the reference (2 x N px), the timed
#       steps (N x 1 and N x B) and the schedule batch (B filters, 2 scales from N px) on both sides,
#       labelled so in the summary ("reduced"): the dry run on a software adapter (SwiftShader, about
#       100x slower than the CPU) takes --size 32 --batch 2.
#       --keep leaves the temporary folder (weights, reference, unpacked payload) in place.
#
# On a device machine, with .device-pack carried along:  bash scripts/device-check.sh run --device webgpu
# Dry run here:  bash scripts/device-check.sh pack && bash scripts/device-check.sh run --device cpu --quick
# On SwiftShader: VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json LD_LIBRARY_PATH=/usr/lib/chromium \
#                 bash scripts/device-check.sh run --device webgpu --quick --size 32 --batch 2
set -euo pipefail
cd "$(dirname "$0")/.."

PACK=.device-pack
LIMIT_BYTES=$((60 * 1024 * 1024))
say() { echo "device-check: $*" >&2; }

pack() {
  local stage
  stage=$(mktemp -d "${TMPDIR:-/tmp}/filter-atlas-pack.XXXXXX")
  # Expanded now: $stage is local, gone when the trap runs.
  trap "rm -rf '$stage'" RETURN
  rm -rf "$PACK"
  mkdir -p "$PACK"
  node scripts/device-pack.mjs "$stage/payload"
  say "compressing (xz -6; a few minutes on 2 cores)"
  tar -C "$stage/payload" -cf - . | xz -T0 -6 >"$PACK/payload.tar.xz"
  if ! (cd "$PACK" && apt-get download libvulkan1 >/dev/null 2>&1); then
    say "apt-get download libvulkan1 failed: run apt-get update first (the loader is needed only where a machine lacks one)"
    return 1
  fi
  local commit node_version ort_version bytes
  commit=$(git rev-parse HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo "+changes")
  node_version=$(node --version)
  ort_version=$(node -p "require('onnxruntime-node/package.json').version")
  cat >"$PACK/manifest.json" <<EOF
{"created": "$(date -u +%Y-%m-%dT%H:%M:%SZ)", "commit": "$commit", "node": "$node_version", "onnxruntime_node": "$ort_version",
 "files": {$(cd "$PACK" && for f in *.xz *.deb; do printf '"%s": %s, ' "$f" "$(stat -c %s "$f")"; done | sed 's/, $//')}}
EOF
  bytes=$(du -sb "$PACK" | cut -f1)
  if [ "$bytes" -ge "$LIMIT_BYTES" ]; then
    say "$PACK is $((bytes / 1024 / 1024)) MiB, over the 60 MiB limit"
    return 1
  fi
  say "$PACK: $(awk "BEGIN {printf \"%.1f\", $bytes / 1048576}") MiB (limit 60 MiB): $(cd "$PACK" && ls | tr '\n' ' ')"
  say "on the device: bash scripts/device-check.sh run --device webgpu   (carry $PACK)"
}

# A Python with torch: $PYTHON, else python3, else Debian's /usr/bin/python3.
find_python() {
  local candidate
  for candidate in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import torch' >/dev/null 2>&1; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

# The first of these files that exists.
first_file() {
  local file
  for file in "$@"; do
    if [ -e "$file" ]; then echo "$file"; return 0; fi
  done
  return 1
}

# Vulkan for Dawn: the loader from the .deb when the machine has none; NVIDIA's ICD file when only its library is there.
setup_vulkan() {
  local work=$1 lib="" libraries
  # Read once, not piped into grep -q or awk's exit: under pipefail their early exit fails the pipe.
  libraries=$( (ldconfig -p || /sbin/ldconfig -p) 2>/dev/null || true)
  if ! grep -q 'libvulkan\.so\.1 ' <<<"$libraries" && ! first_file /usr/lib/x86_64-linux-gnu/libvulkan.so.1 /lib/x86_64-linux-gnu/libvulkan.so.1 /usr/lib64/libvulkan.so.1 >/dev/null; then
    mkdir -p "$work/vulkan"
    if command -v dpkg-deb >/dev/null 2>&1; then
      dpkg-deb -x "$PACK"/libvulkan1_*.deb "$work/vulkan"
    else
      # A .deb is an ar archive holding data.tar.xz.
      python3 - "$PACK"/libvulkan1_*.deb "$work/vulkan" <<'PY'
import io, lzma, sys, tarfile
data = open(sys.argv[1], "rb").read()
pos = 8
while pos < len(data):
    name, size = data[pos:pos + 16].decode().strip(), int(data[pos + 48:pos + 58])
    if name.startswith("data.tar"):
        archive = tarfile.open(fileobj=io.BytesIO(data[pos + 60:pos + 60 + size]))
        # The "data" filter where Python has it (3.12 warns without one); the loader's symlinks stay inside.
        archive.extractall(sys.argv[2], **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    pos += 60 + size + (size & 1)
PY
    fi
    export LD_LIBRARY_PATH="$work/vulkan/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    say "Vulkan loader from the pack's .deb (the machine has none)"
  fi
  if ! grep -qs nvidia /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json 2>/dev/null; then
    lib=$(awk '/libGLX_nvidia\.so\.0/ {print $NF; exit}' <<<"$libraries")
    if [ -z "$lib" ]; then
      lib=$(first_file /usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.0 /lib/x86_64-linux-gnu/libGLX_nvidia.so.0 /usr/lib64/libGLX_nvidia.so.0 /usr/local/nvidia/lib64/libGLX_nvidia.so.0 || true)
    fi
    if [ -n "$lib" ]; then
      printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "%s", "api_version": "1.3.0"}}\n' "$lib" >"$work/nvidia_icd.json"
      export VK_ICD_FILENAMES="$work/nvidia_icd.json" VK_DRIVER_FILES="$work/nvidia_icd.json"
      say "registered NVIDIA's Vulkan driver $lib (no ICD file for it on the machine)"
    fi
  fi
}

# integer_in NAME VALUE LOW HIGH WHAT: VALUE is a whole number from LOW to HIGH, or one line saying what is wrong.
integer_in() {
  if ! [[ "$2" =~ ^[0-9]+$ ]] || [ "$2" -lt "$3" ] || [ "$2" -gt "$4" ]; then
    say "$1: expected a whole number from $3 to $4, received '$2' ($5)"
    return 1
  fi
}

run() {
  local device=webgpu quick="" size=224 batch=8 budget=420 out="${OUT:-.device-check-out}" keep=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --device) device=$2; shift 2 ;;
      --quick) quick=1; shift ;;
      --size) size=${2:-}; shift $(($# > 1 ? 2 : 1)) ;;
      --batch) batch=${2:-}; shift $(($# > 1 ? 2 : 1)) ;;
      --budget-seconds) budget=$2; shift 2 ;;
      --out) out=$2; shift 2 ;;
      --keep) keep=1; shift ;;
      *) say "unknown option $1"; return 2 ;;
    esac
  done
  # Checked here, before minutes of unpacking and PyTorch: both halves take them as they are.
  integer_in "--size" "$size" 32 224 "the side in px of the reference and the timed steps; the real check's is 224" || return 2
  integer_in "--batch" "$batch" 1 18 "the second timed step's batch and the schedule batch's filters, of the article's 18 at layer 40; the real check's is 8" || return 2
  if [ -z "$quick" ] && { [ "$size" -ne 224 ] || [ "$batch" -ne 8 ]; }; then
    say "--size $size --batch $batch: these shrink the dry run; add --quick, or leave them at 224 and 8 for the real check"
    return 2
  fi
  local start work python
  start=$(date +%s)
  [ -f "$PACK/payload.tar.xz" ] || { say "no $PACK/payload.tar.xz: run 'scripts/device-check.sh pack' where Node is installed, and carry $PACK"; return 1; }
  work=$(mktemp -d "${TMPDIR:-/tmp}/filter-atlas-device-check.XXXXXX")
  # Expanded now: $work is local, gone when the trap runs.
  [ -n "$keep" ] || trap "rm -rf '$work'" EXIT
  mkdir -p "$work/payload" "$work/data" "$out"
  if command -v xz >/dev/null 2>&1; then
    xz -dc "$PACK/payload.tar.xz" | tar -x -C "$work/payload"
  else
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$PACK/payload.tar.xz" | tar -x -C "$work/payload"
  fi
  say "unpacked in $(($(date +%s) - start)) s; $("$work/payload/node" --version)"
  setup_vulkan "$work"
  python=$(find_python) || { say "no Python with torch (set PYTHON)"; return 1; }
  local torch_args=(--out "$work/data" --size "$size" --batch "$batch" --schedule-batch "$batch" --threads "$(nproc)")
  if [ -n "$quick" ]; then
    # The two scales of bench/device/check.ts's dry run: from 56 px (or from --size) and int(1.2 x it).
    local first=56
    [ "$size" -eq 224 ] || first=$size
    torch_args+=(--steps 1 --warmup 1 --schedule-sizes "$first,$((first * 12 / 10))" --steps-per-scale 2)
  else
    torch_args+=(--steps 10 --warmup 3 --schedule-sizes 56,67,80,96,115,138,165,198,237,284,340,408 --steps-per-scale 20)
  fi
  say "PyTorch ($python): weights, float64 reference, timings"
  "$python" scripts/device_check_torch.py "${torch_args[@]}" >"$work/torch.out"
  local left=$((budget - ($(date +%s) - start)))
  say "filter-atlas on $device, ${left} s left for it"
  local summary
  summary=$("$work/payload/node" "$work/payload/app/bench/device/check.js" --work "$work/data" --config config/article.yaml --device "$device" ${quick:+--quick} --size "$size" --batch "$batch" --deadline-seconds "$((left > 60 ? left - 30 : 30))") || true
  [ -n "$summary" ] || summary='{"check": "filter-atlas device check", "status": "failed", "errors": ["the check printed nothing (see stderr)"]}'
  summary="${summary%\}}, \"script_seconds\": $(($(date +%s) - start))}"
  echo "$summary" | tee "$out/device-check.json"
  if [ -n "$keep" ]; then say "kept $work"; fi
}

case "${1:-}" in
  pack) shift; pack "$@" ;;
  run) shift; run "$@" ;;
  # The header comment, down to the first command.
  *) awk 'NR > 1 && !/^#/ {exit} NR > 1' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
