"""The Gradio page of ``ganprior app``: components and wiring only; the logic is in ``handlers``."""

import os

import gradio as gr  # this module is the only one that needs Gradio; it is imported on demand

from ..errors import GanpriorError
from . import handlers as h
from . import limits
from .directions import read_direction_upload
from .messages import public_text

INTRO = ("**ganprior** restores and edits faces by searching a pretrained GAN for an image that, once degraded, "
         "matches yours. Upload an image (or take an example), pick a task, paint the area to fill for "
         "inpainting, and press **Run**. The priors render 64×64 faces; results are shown enlarged. Tick "
         "**Whole photo** to restore every face of a photo at its own size.")


def _session(request) -> str:
    return getattr(request, "session_hash", None) or "local"


def _error_text(e: BaseException) -> str:
    """A failed upload's status line: one line, no server path, never a traceback."""
    if isinstance(e, GanpriorError):
        return public_text(f"Error: {e}")
    return public_text(f"Error: internal error {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")


def build_app(out_root: str | os.PathLike | None = None):
    """The ``gr.Blocks`` page. ``out_root``: where each run's folder is made (default: a temp folder).
    Runs of both tabs share one queue of ``limits.SLOTS.size`` at a time (the handlers enforce the
    same bound for calls that bypass the queue)."""
    from ..priors import PRIORS
    from ..priors.zoo import DEFAULT_PRIOR

    runs = h.SLOTS.size

    priors = sorted(PRIORS)
    edit_prior = "utkface64" if "utkface64" in PRIORS else DEFAULT_PRIOR

    def on_upload(path):
        # the decoded upload stays on the server (the session's state): the run restores these exact
        # pixels, whatever encoding the browser's editor sends its picture back in
        if path is None:
            return gr.update(), gr.update(), ""
        try:
            up = h.read_upload(path)
        except Exception as e:  # noqa: BLE001 - shown in the page as one line
            return None, None, _error_text(e)
        note = " Its transparent pixels are pre-painted as the area to fill." if up.missing is not None else ""
        return h.editor_value(up), up.image, f"Loaded {up.name} ({up.image.shape[1]}×{up.image.shape[0]}).{note}"

    def on_edit_upload(path):
        if path is None:
            return gr.update(), gr.update(), ""
        try:
            up = h.read_upload(path)
        except Exception as e:  # noqa: BLE001
            return None, None, _error_text(e)
        # shown enlarged (nearest) when small; the run gets the upload itself, kept in the session's state
        return (h.enlarged(up.image), up.image, f"Loaded {up.name} ({up.image.shape[1]}×{up.image.shape[0]}).")

    def run_restore(editor, source, task, prior, method, codes, layer, steps, factor, noise, blur, simulate, seed,
                    whole, paint, request: gr.Request, progress=gr.Progress()):
        faces = "detect" if whole else "aligned"
        for u in h.restore_stream(editor, task, prior, method, codes, layer, steps, factor, noise, simulate, seed,
                                  session=_session(request), out_root=out_root,
                                  task_options={"blur_sigma": blur}, source=source, faces=faces, mask_paint=paint):
            if u.total:
                progress((u.step, u.total), desc="optimising")
            pair = (u.before, u.after) if u.before is not None and u.after is not None else None
            # a whole photo: its boxes while the faces are restored, then the full-size comparison
            found = u.before if whole and u.after is None and u.before is not None else None
            yield (u.status, pair if pair is not None else gr.update(),
                   u.metrics if u.done or u.metrics else gr.update(), u.files if u.done else gr.update(),
                   u.crops if u.crops else gr.update(), found if found is not None else gr.update(),
                   gr.update(value=u.result, visible=True) if u.result else gr.update(visible=False))

    def on_find_faces(editor, source, whole, task, prior, factor, noise, blur):
        # the faces a whole-photo run would restore, shown before running it
        if not whole:
            return gr.update(), gr.update(), gr.update()
        if source is None and editor is None:
            return None, [], "Upload a photo to find its faces."
        found = h.find_faces(editor if editor is not None else {"background": source}, task, prior, factor, noise,
                             task_options={"blur_sigma": blur}, source=source)
        text = found.status + ("\n\n" + found.table if found.table else "")
        return found.image, found.crops, text

    def on_whole(whole):
        # a whole photo is restored as it is: never degraded first
        shown = gr.update(visible=bool(whole))
        return (gr.update(value=False, interactive=False) if whole else gr.update(interactive=True),
                shown, shown, shown)

    def run_edit(image, uploaded, prior, method, direction, strength, frames, steps, seed, request: gr.Request,
                 progress=gr.Progress()):
        editor = None if image is None else {"background": image}
        for u in h.edit_stream(editor, prior, method, direction, strength, frames, steps, seed,
                               session=_session(request), out_root=out_root, uploaded_directions=uploaded):
            if u.total:
                progress((u.step, u.total), desc="inverting")
            gif = next((f for f in u.files if f.endswith(".gif")), None)
            yield (u.status, u.after if u.after is not None else gr.update(),
                   u.frames if u.done else gr.update(), gif if u.done else gr.update(),
                   u.files if u.done else gr.update())

    def on_direction_upload(path, uploaded, prior):
        # a direction file is usable only by the session that uploaded it (kept in its state)
        if path is None:
            return gr.update(), gr.update(), ""
        try:
            uploaded, key = read_direction_upload(path, uploaded)
        except Exception as e:  # noqa: BLE001
            return gr.update(), gr.update(), _error_text(e)
        return (uploaded, gr.update(choices=h.direction_choices(prior, uploaded), value=key),
                f"Loaded direction {key}.")

    def on_edit_prior(prior, uploaded):
        choices = h.direction_choices(prior, uploaded)
        return gr.update(choices=choices, value=choices[0])

    def cancel(request: gr.Request):
        stopped = h.RUNS.cancel(_session(request))
        return "Cancelled: nothing was written." if stopped else "Nothing is running."

    def on_task(task):
        # a task option's control shows when a task of the chain declares that option
        from ..tasks import task_options
        try:
            declared = {o.name for o in task_options(task)}
        except GanpriorError:
            declared = set()
        return tuple(gr.update(visible=name in declared) for name in ("factor", "noise_sigma", "blur_sigma"))

    with gr.Blocks(title="ganprior") as page:
        gr.Markdown(INTRO)
        with gr.Tab("Restore"):
            with gr.Row():
                with gr.Column(scale=3):
                    upload = gr.File(label="Upload an image", type="filepath", elem_id="upload")
                    editor = gr.ImageEditor(label="Image (paint the area to fill for inpainting)", type="numpy",
                                            image_mode="RGB", sources=(), transforms=(), layers=False,
                                            brush=gr.Brush(colors=["#ff4040"], color_mode="fixed", default_size=12),
                                            eraser=gr.Eraser(default_size=12), canvas_size=(512, 512),
                                            height=420, elem_id="editor", format="png")
                    source = gr.State(None)  # the decoded upload, exact, for this session
                    gr.Examples(h.examples(), inputs=[upload], label="Examples")
                    found = gr.Image(label="Detected faces (green: restored, orange: left to the background)",
                                     type="numpy", interactive=False, visible=False, height=320,
                                     elem_id="found-faces", format="png")
                    crops = gr.Gallery(label="The faces (aligned crops; live while they are restored)", columns=8,
                                       height=160, visible=False, elem_id="face-crops")
                    faces_text = gr.Markdown(visible=False, elem_id="faces-table")
                with gr.Column(scale=2):
                    task = gr.Dropdown(list(h.TASK_CHOICES), value="inpaint", label="Task", elem_id="task")
                    whole = gr.Checkbox(value=False, elem_id="whole-photo", label="Whole photo (find the faces)",
                                        info="the upload is a photo: its faces are found, restored and pasted back "
                                             "at its own size; unticked, it is one aligned face crop")
                    simulate = gr.Checkbox(value=True, elem_id="simulate",
                                           label="The upload is clean: degrade it first and score the result")
                    prior = gr.Dropdown(priors, value=DEFAULT_PRIOR, label="Prior", elem_id="prior")
                    method = gr.Dropdown(list(h.METHOD_CHOICES), value="preset", label="Method", elem_id="method",
                                         info="multi: mGANprior, single: one code, subspace: PmSFC, "
                                              "dgp: fine-tunes the generator")
                    codes = gr.Slider(0, limits.MAX_CODES, value=0, step=1, label="Codes (0 = task preset)",
                                      elem_id="codes")
                    layer = gr.Dropdown(["preset", "1", "2", "3", "4"], value="preset", label="Composition layer",
                                        elem_id="layer")
                    steps = gr.Slider(0, limits.MAX_STEPS, value=0, step=10, label="Steps (0 = task preset)",
                                      elem_id="steps")
                    factor = gr.Dropdown([2, 4, 8], value=4, label="Super-resolution factor", visible=False)
                    noise = gr.Slider(0.01, 0.5, value=0.1, step=0.01, label="Noise σ", visible=False)
                    blur = gr.Slider(0.5, 8, value=1.5, step=0.1, label="Blur σ (pixels at the prior's size)",
                                     visible=False)
                    paint = gr.Textbox(value="", label="Inpaint: damage painted on the upload in colour",
                                       placeholder="e.g. white or #ffffff:0.1 (empty: paint in the editor)",
                                       max_length=100, elem_id="mask-paint")
                    seed = gr.Number(value=0, precision=0, label="Seed")
                    with gr.Row():
                        run = gr.Button("Run", variant="primary", elem_id="run")
                        stop = gr.Button("Cancel", elem_id="cancel")
            status = gr.Markdown(elem_id="status")
            with gr.Row():
                # PNG: the comparison shows the result's own pixels (a whole photo's at full size)
                compare = gr.ImageSlider(label="input | result (drag to compare)", type="numpy",
                                         elem_id="comparison", max_height=420, format="png")
                with gr.Column():
                    metrics = gr.Markdown(elem_id="metrics")
                    download = gr.DownloadButton("Download the full-size result (PNG)", visible=False,
                                                 elem_id="download-result")
                    files = gr.File(label="Download the result and metrics.json", file_count="multiple",
                                    interactive=False, elem_id="downloads")
            find_inputs = [editor, source, whole, task, prior, factor, noise, blur]
            find_outputs = [found, crops, faces_text]
            # finding faces optimises nothing: its own small queue, not a run slot
            find = dict(fn=on_find_faces, inputs=find_inputs, outputs=find_outputs, concurrency_limit=1,
                        concurrency_id="ganprior-faces", show_progress="minimal")
            upload.change(on_upload, upload, [editor, source, status]).then(**find)
            whole.change(on_whole, whole, [simulate, found, crops, faces_text]).then(**find)
            task.change(on_task, task, [factor, noise, blur]).then(**find)
            for control in (prior, factor):
                control.change(**find)
            job = run.click(run_restore, [editor, source, task, prior, method, codes, layer, steps, factor, noise,
                                          blur, simulate, seed, whole, paint],
                            [status, compare, metrics, files, crops, found, download],
                            show_progress="minimal", show_progress_on=[status], concurrency_limit=runs,
                            concurrency_id="ganprior-run")
            stop.click(cancel, None, status, cancels=[job], queue=False)
        with gr.Tab("Edit"):
            with gr.Row():
                with gr.Column(scale=3):
                    edit_upload = gr.File(label="Upload a face", type="filepath", elem_id="edit-upload")
                    edit_image = gr.Image(label="Input", type="numpy", interactive=False, height=300)
                    edit_source = gr.State(None)
                    gr.Examples(h.examples()[:1], inputs=[edit_upload], label="Examples")
                with gr.Column(scale=2):
                    edit_prior = gr.Dropdown(priors, value=edit_prior, label="Prior")
                    edit_method = gr.Dropdown(list(h.EDIT_METHOD_CHOICES), value="single", label="Inversion method")
                    direction = gr.Dropdown(h.direction_choices(edit_prior), value=h.direction_choices(edit_prior)[0],
                                            label="Direction", allow_custom_value=True, elem_id="direction",
                                            info="shipped names, sefa:I (closed form), pca:I (GANSpace), "
                                                 "or a file uploaded below")
                    direction_upload = gr.File(label="Upload a direction (.npz / .npy)", type="filepath",
                                               file_types=[".npz", ".npy"], elem_id="direction-upload")
                    uploaded_directions = gr.State({})  # this session's uploaded direction files
                    strength = gr.Slider(0.5, 5, value=2, step=0.5, label="Strength (frames go from -S to +S)")
                    n_frames = gr.Slider(2, limits.MAX_FRAMES, value=5, step=1, label="Frames")
                    edit_steps = gr.Slider(10, limits.MAX_STEPS, value=300, step=10, label="Inversion steps")
                    edit_seed = gr.Number(value=0, precision=0, label="Seed")
                    with gr.Row():
                        edit_run = gr.Button("Edit", variant="primary", elem_id="edit-run")
                        edit_stop = gr.Button("Cancel")
            edit_status = gr.Markdown(elem_id="edit-status")
            with gr.Row():
                recon = gr.Image(label="Reconstruction", type="numpy", interactive=False, height=256)
                gif = gr.Image(label="Edit (GIF)", type="filepath", interactive=False, height=256)
            gallery = gr.Gallery(label="Frames", columns=9, height=200)
            edit_files = gr.File(label="Download", file_count="multiple", interactive=False)
            edit_upload.change(on_edit_upload, edit_upload, [edit_image, edit_source, edit_status])
            edit_prior.change(on_edit_prior, [edit_prior, uploaded_directions], direction)
            direction_upload.change(on_direction_upload, [direction_upload, uploaded_directions, edit_prior],
                                    [uploaded_directions, direction, edit_status])
            edit_job = edit_run.click(run_edit, [edit_source, uploaded_directions, edit_prior, edit_method, direction,
                                                 strength, n_frames, edit_steps, edit_seed],
                                      [edit_status, recon, gallery, gif, edit_files], show_progress="minimal",
                                      show_progress_on=[edit_status], concurrency_limit=runs,
                                      concurrency_id="ganprior-run")
            edit_stop.click(cancel, None, edit_status, cancels=[edit_job], queue=False)
    return page


def launch(host: str = "127.0.0.1", port: int = 7860, out_root: str | os.PathLike | None = None,
           quiet: bool = False, max_runs: int | None = None) -> None:
    """Build the page and serve it until interrupted (localhost only unless ``host`` says otherwise).
    ``max_runs``: how many restorations and edits optimise at once (default ``limits.MAX_RUNS``)."""
    if max_runs is not None:
        h.SLOTS.resize(max_runs)
    page = build_app(out_root)
    page.queue(default_concurrency_limit=h.SLOTS.size)
    page.launch(server_name=host, server_port=port, max_file_size=f"{h.MAX_UPLOAD_MB}mb", ssr_mode=False,
                show_error=False, quiet=quiet, footer_links=[])
