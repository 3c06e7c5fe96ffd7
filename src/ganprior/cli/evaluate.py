"""``ganprior evaluate``: score result images against same-named ground truth."""

from __future__ import annotations


from .common import FIT_CHOICES, HELP, Parser, print_table


def evaluate_cmd(argv: list[str]) -> int:
    from ..evaluate import evaluate_folders
    from ..io import write_json
    p = Parser(prog="ganprior evaluate", formatter_class=HELP,
               description="PSNR, SSIM, LPIPS (AlexNet), NIQE and colorization AuC of the images "
                           "in RESULTS_DIR against same-named images in GROUND_TRUTH_DIR.")
    p.add_argument("results_dir")
    p.add_argument("ground_truth_dir")
    p.add_argument("--json", default=None, help="also write the per-image records to this file")
    p.add_argument("--fit", default="crop", choices=FIT_CHOICES,
                   help="how ground truth of another size is brought to the result's size")
    p.add_argument("--niqe-params", default=None, help="NIQE pristine-model .npz")
    a = p.parse_args(argv)
    records, notes = evaluate_folders(a.results_dir, a.ground_truth_dir, fit=a.fit, niqe_params=a.niqe_params)
    print_table(records, "image")
    for n in notes:
        print(f"note: {n}")
    if a.json:
        write_json(records, a.json)
    return 0
