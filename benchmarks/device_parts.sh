# Sourced by the device scripts after they set TAR (an archive name): each part writes under $R and runs
# under a time limit; its exit code goes to $R/parts.txt, and $OUT/$TAR is rewritten after every part, since
# the device returns at most 8 files (checkpoints stay on the machine).
R="$OUT/r"; mkdir -p "$R"
pack() { tar -cf "$OUT/$TAR" --exclude='*.safetensors' -C "$R" .; }
part() { local limit=$1; shift; timeout "$limit" "$@"; echo "rc=$? : $*" | tee -a "$R/parts.txt"; pack; }
bench() { local limit=$1 name=$2; shift 2
  part "$limit" python3 -m saga_attention.cli bench --device cuda --dtype bf16 --warmup 3 --repeats 10 "$@" \
      --json "$R/$name.json"; }
