"""TRML's tables as runnable specifications (paper numbers transcribed from the paper).

Rows are methods, columns ``"<victim> <setting> <metric>"`` (e.g. ``"T->V A MAE"``). The same
``run(ctx)`` fills the table on the embedded benchmark (quick profile, frozen cached features) and
on the paper's data (``python -m rmm_lib run trml.table1``; fine-tuned CLIP ViT-B/32).
"""
from __future__ import annotations

from ..context import TableSpec
from ..recipes import trml as R
from . import register

BACKBONES = {"text": "ViT-B-32/openai", "video": "ViT-B-32/openai + GRU temporal encoder"}
PROTOCOL = "TRML Setting A (victim absent from test) and Setting B (same rate in train and test), p = 10% kept"


def _rows(victim: str, values: dict) -> dict:
    cols = [f"{victim} A MAE", f"{victim} A Acc-2", f"{victim} B MAE", f"{victim} B Acc-2"]
    return {row: dict(zip(cols, nums)) for row, nums in values.items()}


TABLE1 = _rows("T->V", {
    "LB": (0.802, 81.5, 0.802, 81.5), "UB": (0.751, 86.36, 0.751, 86.36), "MFM": (1.103, 71.0, 1.093, 73.2),
    "SMIL": (1.073, 74.2, 1.052, 75.3), "Modal-Trans": (1.052, 75.5, 1.041, 75.8),
    "MM-Align": (1.028, 76.9, 1.027, 77.0), "TRML": (0.757, 86.0, 0.755, 86.3)})
TABLE2 = _rows("V->T", {
    "LB": (1.47, 53.2, 1.47, 53.2), "UB": (0.751, 86.36, 0.751, 86.36), "MFM": (1.479, 42.2, 1.429, 51.9),
    "SMIL": (1.448, 44.2, 1.447, 43.3), "Modal-Trans": (1.429, 50.3, 1.420, 53.1),
    "MM-Align": (1.415, 52.7, 1.410, 53.4), "TRML": (1.410, 61.5, 1.408, 61.9)})
TABLE3 = _rows("T->V", {
    "LB": (0.603, 83.8, 0.603, 83.8), "UB": (0.581, 85.3, 0.581, 85.3), "MFM": (0.658, 79.2, 0.645, 80.0),
    "SMIL": (0.680, 78.3, 0.648, 78.5), "Modal-Trans": (0.645, 79.6, 0.647, 79.6),
    "MM-Align": (0.637, 80.8, 0.638, 81.1), "TRML": (0.590, 84.8, 0.582, 85.1)})
TABLE4 = _rows("V->T", {
    "LB": (0.874, 72.7, 0.874, 72.7), "UB": (0.581, 85.3, 0.581, 85.3), "MFM": (0.821, 62.0, 0.817, 61.7),
    "SMIL": (0.820, 63.1, 0.816, 63.5), "Modal-Trans": (0.817, 65.1, 0.814, 65.7),
    "MM-Align": (0.811, 66.2, 0.806, 66.9), "TRML": (0.856, 73.9, 0.818, 75.8)})
_T5_COLS = ("T->V A Acc", "T->V B Acc", "V->T A Acc", "V->T B Acc")
TABLE5 = {row: dict(zip(_T5_COLS, nums)) for row, nums in {
    "LB": (57.4, 57.4, 42.2, 42.2), "UB": (64.9, 64.9, 64.9, 64.9), "MFM": (54.0, 53.9, 31.4, 43.6),
    "SMIL": (54.4, 54.2, 31.4, 43.9), "Modal-Trans": (55.0, 54.8, 31.6, 44.2),
    "MM-Align": (55.7, 55.7, 32.3, 45.4), "TRML": (63.5, 64.2, 46.1, 46.2)}.items()}
# Tables 6-7 (ablations), keyed "<dataset> <variant>".
TABLE6 = _rows("T->V", {
    "CMU-MOSI TRML": (0.757, 86.0, 0.755, 86.3), "CMU-MOSI w/o L(t,t)": (0.777, 85.6, 0.763, 85.9),
    "CMU-MOSI w/o L(v,v)": (0.791, 84.8, 0.789, 85.3), "CMU-MOSI w/o L_sml": (0.793, 84.5, 0.792, 84.7),
    "CMU-MOSEI TRML": (0.590, 84.8, 0.582, 85.1), "CMU-MOSEI w/o L(t,t)": (0.593, 84.3, 0.595, 84.4),
    "CMU-MOSEI w/o L(v,v)": (0.594, 84.5, 0.588, 84.6), "CMU-MOSEI w/o L_sml": (0.597, 83.9, 0.595, 84.2)})
TABLE7 = _rows("V->T", {
    "CMU-MOSI TRML": (1.410, 61.5, 1.408, 61.9), "CMU-MOSI w/o L(t,t)": (1.438, 57.4, 1.441, 57.7),
    "CMU-MOSI w/o L(v,v)": (1.428, 59.0, 1.425, 59.1), "CMU-MOSI w/o L_sml": (1.444, 56.7, 1.466, 56.4),
    "CMU-MOSEI TRML": (0.856, 73.9, 0.818, 75.8), "CMU-MOSEI w/o L(t,t)": (0.895, 73.1, 0.833, 74.1),
    "CMU-MOSEI w/o L(v,v)": (0.891, 73.4, 0.829, 74.2), "CMU-MOSEI w/o L_sml": (0.897, 73.0, 0.890, 73.4)})

def run_grid(ctx, victims, rows, task: str) -> dict:
    """Fill ``{row: {"<victim> <setting> <metric>": value}}`` by training each cell (UB once)."""
    splits = R.table_splits(ctx)
    table = {}
    for row in ctx.table.get("rows", rows):
        table[row] = {}
        for victim in victims:
            for setting in ctx.table.get("settings", ("A", "B")):
                result = R.run_cell(ctx, splits, R.METHODS[row], setting, victim, task)
                for metric, value in R.summarize_run(result.metrics, task).items():
                    table[row][f"{victim} {setting} {metric}"] = value
    return table


def _spec(key, title, dataset, batch, paper, victims, rows, task, notes=""):
    return register(TableSpec(
        key=key, paper="trml", title=title, dataset=dataset, backbones=BACKBONES, train=R.appendix_b_train(batch),
        model=R.APPENDIX_B_MODEL, quick_train=R.QUICK_TRAIN, protocol=PROTOCOL, paper_numbers=paper,
        run=lambda ctx: run_grid(ctx, victims, rows, task), options=("rows", "settings"), notes=notes))


MAIN_ROWS = ("LB", "UB", "Cyclic (Modal-Trans-like)", "TRML")
ABLATION_ROWS = ("TRML", "w/o L(t,t)", "w/o L(v,v)", "w/o L_sml")
_spec("trml.table1", "CMU-MOSI, T->V (missing visual)", "mosi_raw", 16, TABLE1, ("T->V",), MAIN_ROWS, "regression")
_spec("trml.table2", "CMU-MOSI, V->T (missing text)", "mosi_raw", 16, TABLE2, ("V->T",), MAIN_ROWS, "regression")
_spec("trml.table3", "CMU-MOSEI, T->V (missing visual)", "mosei_raw", 32, TABLE3, ("T->V",), MAIN_ROWS, "regression")
_spec("trml.table4", "CMU-MOSEI, V->T (missing text)", "mosei_raw", 32, TABLE4, ("V->T",), MAIN_ROWS, "regression")
_spec("trml.table5", "MELD, both victims (accuracy)", "meld", 32, TABLE5, ("T->V", "V->T"), MAIN_ROWS,
      "classification", notes="The paper's header says Acc-2; appendix B says MELD is scored by accuracy.")
_spec("trml.table6", "Ablations, T->V (CMU-MOSI rows run; MOSEI via dataset override)", "mosi_raw", 16, TABLE6,
      ("T->V",), ABLATION_ROWS, "regression")
_spec("trml.table7", "Ablations, V->T (CMU-MOSI rows run; MOSEI via dataset override)", "mosi_raw", 16, TABLE7,
      ("V->T",), ABLATION_ROWS, "regression")
