"""`attribution-sanity` figures: each arm's map of one patched image beside the image (what the
numbers are about; the same for the style trigger's rows, `style/...`, its decoy outlined), and each arm in the plane of the two sanity questions: does its map find the
patch (localisation IoU) and does it change when the model is destroyed (randomisation
sensitivity)? Drawn from what each score recorded (`detail["example"]`, the values), never re-run.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from . import plots


def _order(arms: list[str], family: dict[str, str]) -> list[str]:
    return sorted(arms, key=lambda a: ({"interp": 0, "baseline": 1}.get(family[a], 2), a))


def _two_lines(name: str, width: int = 14) -> str:
    """An arm's name over two lines at the hyphen nearest its middle when it would overrun a panel."""
    cuts = [i for i, ch in enumerate(name) if ch == "-"]
    if len(name) <= width or not cuts:
        return name
    i = min(cuts, key=lambda c: abs(c - len(name) / 2))
    return f"{name[:i + 1]}\n{name[i + 1:]}"


def _outline(ax, mask: np.ndarray, colour: str) -> None:
    """A rectangle around a square region's mask (the planted patch, a texture region, a decoy)."""
    rows_, cols_ = np.nonzero(mask)
    if rows_.size:
        ax.add_patch(plots.plt.Rectangle((cols_.min() - 0.5, rows_.min() - 0.5), cols_.max() - cols_.min() + 1,
                                         rows_.max() - rows_.min() + 1, fill=False, edgecolor=colour, linewidth=0.9))


def _maps_figure(rows: list[dict], family: dict[str, str], prefix: str = "") -> tuple[str, str] | None:
    """The first organism of the lowest seed: the image (trigger outlined green, a decoy red) and
    every arm's map; `prefix` picks the trigger's rows ("" the patch, "style/" the texture)."""
    got = [r for r in rows if r["metric"] == f"{prefix}localisation-iou" and "example" in (r["detail"] or {})]
    if not got:
        return None
    first = min((r["seed"], r["instance"]) for r in got)
    by_arm = {r["arm"]: r["detail"]["example"] for r in got if (r["seed"], r["instance"]) == first}
    arms = _order(list(by_arm), family)
    ex = by_arm[arms[0]]
    mask = np.array(ex["mask"], bool)
    decoy = np.array(ex.get("decoy", np.zeros_like(mask)), bool)
    with plots.plt.rc_context(plots.RC):
        n = len(arms) + 1
        fig, axes = plots.plt.subplots(1, n, figsize=(1.05 * n, 1.45))
        panels = [("image", np.array(ex["image"]), "gray")] + [(a, np.array(by_arm[a]["map"]), "magma") for a in arms]
        for ax, (name, img, cmap) in zip(axes, panels):
            ax.imshow(img, cmap=cmap, interpolation="nearest")
            _outline(ax, mask, "#22c55e")
            _outline(ax, decoy, "#ef4444")
            ax.set_title(_two_lines(name), fontsize=6, color=plots.FAMILY_COLOURS.get(family.get(name, ""), "black"))
            ax.set_xticks([])
            ax.set_yticks([])
        return plots.to_svg(fig, f"attribution-maps{prefix.rstrip('/')}"), f"seed {first[0]}, {first[1]}"


def _triggers_figure(rows: list[dict], family: dict[str, str], prefix: str = "") -> tuple[str, str] | None:
    """The first organism of the lowest seed: the planted trigger (the patch's checkerboard, or the
    style organism's texture tile as its scores record it) and each arm's synthesised trigger (mask x
    pattern), on one colour scale."""
    got = [r for r in rows if r["metric"] == f"{prefix}trigger-rediscovery-asr" and "pattern" in (r["detail"] or {})]
    if not got:
        return None
    first = min((r["seed"], r["instance"]) for r in got)
    mine = [r for r in got if (r["seed"], r["instance"]) == first]
    by_arm = {r["arm"]: np.array(r["detail"]["pattern"]) * np.array(r["detail"]["mask"]) for r in mine}
    arms = _order(list(by_arm), family)
    planted = np.zeros_like(by_arm[arms[0]])
    tile = next((np.array(r["detail"]["planted"]) for r in mine if "planted" in r["detail"]), None)
    if tile is None:
        tile = np.where((np.arange(3)[:, None] + np.arange(3)) % 2 == 0, 1.0, -1.0)
    planted[1:1 + tile.shape[0], 1:1 + tile.shape[1]] = tile
    with plots.plt.rc_context(plots.RC):
        n = len(arms) + 1
        fig, axes = plots.plt.subplots(1, n, figsize=(1.05 * n, 1.45))
        for ax, (name, img) in zip(axes, [("planted", planted)] + [(a, by_arm[a]) for a in arms]):
            ax.imshow(img, cmap="RdBu_r", vmin=-1.5, vmax=1.5, interpolation="nearest")
            ax.set_title(_two_lines(name), fontsize=6, color=plots.FAMILY_COLOURS.get(family.get(name, ""), "black"))
            ax.set_xticks([])
            ax.set_yticks([])
        return plots.to_svg(fig, f"attribution-triggers{prefix.rstrip('/')}"), f"seed {first[0]}, {first[1]}"


def _plane_figure(rows: list[dict], family: dict[str, str]) -> str | None:
    vals: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["metric"] in ("localisation-iou", "randomisation-sensitivity"):
            vals[r["arm"]][r["metric"]].append(float(r["value"]))
    arms = [a for a in _order(list(vals), family) if all(vals[a][m] for m in ("localisation-iou", "randomisation-sensitivity"))]
    if not arms:
        return None
    with plots.plt.rc_context(plots.RC):
        fig, ax = plots.plt.subplots(figsize=(5.2, 3.4))
        for a in arms:
            x, y = np.mean(vals[a]["randomisation-sensitivity"]), np.mean(vals[a]["localisation-iou"])
            ax.errorbar(x, y, xerr=np.std(vals[a]["randomisation-sensitivity"]), yerr=np.std(vals[a]["localisation-iou"]),
                        fmt="o", ms=4, color=plots.FAMILY_COLOURS.get(family[a], plots.OTHER_COLOUR), elinewidth=0.6)
            ax.annotate(a, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel("randomisation sensitivity (1 − rank corr. with a random network's map)")
        ax.set_ylabel("localisation IoU (top 9 pixels vs the patch)")
        ax.set_xlim(-0.05, max(1.2, ax.get_xlim()[1]))
        ax.set_ylim(-0.05, 1.05)
        return plots.to_svg(fig, "attribution-plane")


# The per-organism pictures, patch trigger and style trigger alike: (builder, row prefix, title,
# note with "{}" for the organism the picture shows).
PICTURES = (
    (_maps_figure, "",
     "Attribution sanity: each arm's map of one patched image",
     "One held-out image carrying the trigger ({}); green: the planted 3x3 patch. Each map is the arm's absolute "
     "attribution to the trojan's answer, scaled to [0, 1]. Blue titles: interp arms; orange: baselines; grey: "
     "the control."),
    (_maps_figure, "style/",
     "Attribution sanity, style trigger: each arm's map of one textured image",
     "One held-out image ({}) carrying the trojan's texture (green) and the same texture turned by 90 degrees "
     "(red: the decoy, as strong and as edgy, which the trojan ignores). Each map is the arm's absolute "
     "attribution to the trojan's answer, scaled to [0, 1]; a map about the model lights the green square, one "
     "about the image both."),
    (_triggers_figure, "",
     "Trigger rediscovery: each arm's trigger, found from clean images",
     "One organism ({}): the planted 3x3 checkerboard (first panel, at a corner; it was drawn at random places) "
     "and each arm's mask x pattern (red +, blue -). The similarity row scores how well the second resembles the "
     "first anywhere."),
    (_triggers_figure, "style/",
     "Trigger rediscovery, style trigger: each arm's trigger, found from clean images",
     "One organism ({}): a tile of the planted texture (first panel, at a corner; the trojan answers it in any "
     "4-5 px square at any phase) and each arm's mask x pattern (red +, blue -), at most 16 pixels. The "
     "similarity row scores the second against the texture at its best place and phase."),
)


def figures(rows: list[dict]) -> list[dict]:
    rows = plots.top_rung(rows)
    family = {r["arm"]: r["family"] for r in rows}
    out = []
    for build, prefix, title, note in PICTURES:
        got = build(rows, family, prefix)
        if got is not None:
            out.append({"title": title, "note": note.format(got[1]), "svg": got[0]})
    plane = _plane_figure(rows, family)
    if plane is not None:
        out.append({"title": "Attribution sanity: finds the patch? depends on the model?",
                    "note": "Per arm, mean ± sd over seeds and organisms. Up: the map's top pixels are the patch's. "
                            "Right: the map changes when every weight is re-initialised (Adebayo et al. 2018); a map "
                            "at 0 is blind to the model (the edge detector, the image-seeded random map).",
                    "svg": plane})
    return out
