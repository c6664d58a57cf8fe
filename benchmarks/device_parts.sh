# Sourced by the device scripts after they set TAR (an archive name): `machine` records the GPU and the torch and
# triton versions; each part writes under $R and runs under a time limit; its exit code goes to $R/parts.txt, and
# $OUT/$TAR is rewritten after every part, since the device returns at most 8 files (checkpoints stay there).
R="${R:-$OUT/r}"; mkdir -p "$R"
machine() { nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$R/machine.txt"
  python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" | tee -a "$R/machine.txt"; }
pack() { tar -cf "$OUT/$TAR" --exclude='*.safetensors' -C "$R" .; }
part() { local limit=$1; shift; timeout "$limit" "$@"; echo "rc=$? : $*" | tee -a "$R/parts.txt"; pack; }
bench() { local limit=$1 name=$2; shift 2
  part "$limit" python3 -m saga_attention.cli bench --device cuda --dtype bf16 --warmup 3 --repeats 10 "$@" \
      --json "$R/$name.json"; }
