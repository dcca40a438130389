#!/bin/bash
# Example SLURM job: one paper table on the 4 GPUs of one node, data-parallel (PyTorch DDP).
#
#   sbatch scripts/slurm_torchrun.sh mla.table2            # the table key; more options after it
#   sbatch scripts/slurm_torchrun.sh mla.table2 --resume   # continue an interrupted run exactly
#
# torchrun starts one process per GPU; `python -m rmm_lib run` joins them into one process group,
# splits each batch over them and lets rank 0 alone write runs/<key>/. Resume with the same number
# of GPUs to continue bit for bit (each rank's RNG state is in the checkpoint). Adapt the #SBATCH
# lines, the environment activation and RMM_DATA_ROOT to your cluster.
#SBATCH --job-name=rmm
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=16
#SBATCH --time=24:00:00
#SBATCH --output=runs/slurm-%j.out
set -euo pipefail

KEY=${1:?usage: sbatch scripts/slurm_torchrun.sh TABLE_KEY [options of python -m rmm_lib run]}
shift
GPUS=${SLURM_GPUS_ON_NODE:-4}

source .venv/bin/activate            # or: conda activate rmm
export RMM_DATA_ROOT=${RMM_DATA_ROOT:-$HOME/rmm_data}
export RMM_PROGRESS=0                # no tqdm bars in a log file
export OMP_NUM_THREADS=$(( ${SLURM_CPUS_PER_TASK:-16} / GPUS ))

torchrun --standalone --nproc_per_node "$GPUS" -m rmm_lib run "$KEY" \
    --data-root "$RMM_DATA_ROOT" --out runs/ --no-progress "$@"
