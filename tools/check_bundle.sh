#!/usr/bin/env bash
# Prove that an offline bundle installs with the network unused, the way a learner's laptop would:
#   bash tools/check_bundle.sh /path/to/milvus-comics-bundle [python3]
# A fresh virtual environment in a temporary folder gets the tutorial and its packages from the bundle's wheels
# only (pip --no-index, no pip configuration), the data step puts dataset, vectors and the Milvus collection in a
# temporary data folder, then the pre-flight check runs. Where network namespaces are available (root, or
# unprivileged user namespaces) every step runs in one that has only the loopback interface: no network at all.
# Prints the duration of each step; the temporary folder is removed at the end. Too large for every CI run.
set -euo pipefail

bundle=$(realpath "${1:?usage: bash tools/check_bundle.sh BUNDLE [python3]}")
python=${2:-python3}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/check-bundle.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Only the bundle may serve packages: no index, no find-links or extra index from a pip configuration file.
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_INDEX_URL PIP_CONSTRAINT
export PIP_CONFIG_FILE=/dev/null PIP_NO_INDEX=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# The learner's settings, in the temporary folder; no hub downloads, no key, the bundle's model.
export TUTORIAL_DATA_DIR="$work/data" OUTPUT_DIR="$work/outputs" MILVUS_URI= OPENAI_API_KEY= DATASET_SOURCE=
export HF_HUB_OFFLINE=1 HF_HOME="$work/hf-home" MODEL_NAME=efficientnet_lite0

if unshare -n true 2>/dev/null; then
    # A new network namespace: only loopback (Milvus Lite talks to itself over 127.0.0.1), nothing outside.
    offline() { unshare -n sh -c 'ip link set lo up && exec "$@"' sh "$@"; }
    echo "network: none (a network namespace with loopback only)"
else
    offline() { "$@"; }
    echo "network: present but unused (pip --no-index, HF_HUB_OFFLINE=1); no network namespace here"
fi

cd "$repo"
SECONDS=0
offline "$python" tools/install_bundle.py packages "$bundle" --venv "$work/venv"
packages_s=$SECONDS
offline "$work/venv/bin/python" tools/install_bundle.py data "$bundle"
data_s=$((SECONDS - packages_s))
cd "$work"  # the check imports the helpers installed in the venv, not the current folder
status=0
offline "$work/venv/bin/python" -m helpers.checks || status=$?
echo "packages: ${packages_s} s, data: ${data_s} s, pre-flight: $((SECONDS - packages_s - data_s)) s"
echo "venv size: $(du -sh "$work/venv" | cut -f1), data folder: $(du -sh "$work/data" | cut -f1)"
exit $status
