"""Read the configured model's card into what the About page and the API tell users."""

from __future__ import annotations

from typing import Any

from django.conf import settings

# Backbones that start from ImageNet weights, by the name users read.
IMAGENET_BACKBONES = {
    "efficientnet-lite0": "EfficientNet-Lite0",
    "efficientnet-lite1": "EfficientNet-Lite1",
}

_TEST_FIGURES = (
    "n",
    "accuracy",
    "balanced_accuracy",
    "macro_auc",
    "ece",
    "covid_sensitivity_at_95_specificity",
)
# Below this AUC a separation is called weak in the limits users read.
WEAK_AUC = 0.75
# Below this test specificity a point's second looks are stated as a limit.
COSTLY_SPECIFICITY = 0.5
# Below this share refused, a non-chest kind left out of the gate's fit is stated as a limit.
GATE_REFUSE_STATED = 0.99
_CLASS_FIGURES = ("n", "sensitivity", "specificity", "ppv", "auc")
# Figures judged inside one source (training evaluate --card), in the order users read them.
_INSIDE_SOURCE_FIGURES = (
    "siim_typical_vs_negative_auc",
    "siim_opacity_vs_negative_auc",
    "siim_typical_vs_atypical_auc",
    "cohen_covid_vs_rest_auc",
    "cohen_covid_vs_rest_auc_ci95",
    "cxr_macro_auc",
    "cxr_ece",
    "siim_ece",
    "gate_chest_accept_rate",
    "gate_chest_n",
    "gate_negatives_refuse_rate",
    "gate_negatives_n",
)


def model_card_summary(
    *, model_name: str | None = None, in_force: Any | None = None
) -> dict[str, Any] | None:
    """Return the model's identity, test figures, limits and operating points.

    `model_name`: the model in force (None: the setting's); `in_force`: the selectors'
    PointInForce, said to be in force among the card's points.
    """
    from mlcore.errors import ModelUnavailableError
    from mlcore.registry import model_card_read

    try:
        card = model_card_read(name=model_name or settings.CXR_MODEL_NAME)
    except ModelUnavailableError:
        return None
    from mlcore.labels import LABEL_MEANINGS
    from screening.operating_summary import operating_summary

    test = card.evaluation.get("test") or {}
    figures = card.evaluation.get("figures") or {}
    return {
        "name": card.name,
        "version": card.version,
        "created_utc": card.created_utc,
        "labels": list(card.labels),
        "classes": [{"label": k, "meaning": LABEL_MEANINGS.get(k, "")} for k in card.labels],
        "architecture": _card_architecture(training=card.training),
        "input_size": card.input_size,
        "parameters": card.training.get("params"),
        "test_time_views": 2 if card.view_shift else 1,
        "calibration_temperature": card.temperature,
        "training": {
            "n_train": card.training.get("n_train"),
            "n_val": card.training.get("n_val"),
            "split_sha256": card.training.get("split_sha256"),
        },
        "test": _card_test_figures(test=test, labels=card.labels, figures=figures),
        "inside_source": {k: figures.get(k) for k in _INSIDE_SOURCE_FIGURES} if figures else None,
        "evidence_outside_lungs": (figures.get("cam_outside_lungs") or {}).get("by_source"),
        "lung_fields": _card_lung_fields(evaluation=card.evaluation, figures=figures),
        "gate": _card_gate(gate2=card.evaluation.get("gate2")),
        "limitations": [
            *_card_limitations(test=test, figures=figures),
            *_point_limitations(card=card),
            *_gate_limitations(gate2=card.evaluation.get("gate2")),
            *_contributor_limitations(check=figures.get("contributor")),
            *card.evaluation.get("known_failures", []),
        ],
        "operating": operating_summary(card=card, in_force=in_force),
    }


def _card_lung_fields(*, evaluation: dict, figures: dict) -> dict[str, Any] | None:
    """The lung segmenter's test Dice and where the heatmaps' evidence lies on test films."""
    segmenter = evaluation.get("lung_segmenter")
    if not segmenter:
        return None
    evidence = figures.get("evidence_in_lungs") or {}
    return {
        "dice_test": segmenter.get("dice_test"),
        "dice_test_n": segmenter.get("n_test"),
        "flag_below": evidence.get("flag_below"),
        "evidence_all": evidence.get("all"),
        "evidence_by_source": evidence.get("by_source") or {},
    }


def _card_gate(*, gate2: dict | None) -> dict[str, Any] | None:
    """Gate 2's refuse rate per negative source, each left out of its fit."""
    if not gate2:
        return None
    loso = gate2.get("leave_one_source_out") or {}
    return {
        "test": gate2.get("test") or {},
        "sources": loso.get("sources") or {},
        "worst_source": loso.get("worst_source"),
        "worst_refused": loso.get("worst_refused"),
        "refits": _card_gate_refits(refits=gate2.get("refits")),
        "texture_read": int(gate2.get("texture_read") or 0),
    }


def _card_gate_refits(*, refits: dict | None) -> dict[str, Any] | None:
    """The left-out refits under rounding-sized noise: how far the worst figure moved."""
    if not refits or refits.get("worst_refused_min") is None:
        return None
    sources = sorted({str(w.get("source")) for w in refits.get("worst") or [] if w.get("source")})
    return {
        **refits,
        "noise_percent": 100 * float(refits.get("noise") or 0.0),
        "worst_sources": sources,
    }


def _card_architecture(*, training: dict) -> dict[str, Any]:
    """Return the network and how it was initialised."""
    backbone = training.get("backbone", "cxrnet")
    description = (
        f"{IMAGENET_BACKBONES[backbone]} started from ImageNet weights and fine-tuned"
        if backbone in IMAGENET_BACKBONES and training.get("pretrained")
        else "a compact convolutional network trained from scratch"
    )
    members = training.get("ensemble") or []
    if len(members) > 1:
        description = f"the average of {len(members)} networks, each {description}"
    return {
        "backbone": backbone,
        "pretrained": bool(training.get("pretrained", False)),
        "description": description,
        "members": len(members) or 1,
        "data": training.get("data"),
    }


def _card_test_figures(*, test: dict, labels: Any, figures: dict) -> dict[str, Any]:
    """Return the held-out test figures: overall, per class and per source."""
    within = test.get("covid_vs_rest_auc_within_source") or {}
    per_class = test.get("per_class") or {}
    return {
        **{key: test.get(key) for key in _TEST_FIGURES},
        "per_class": {
            label: {k: per_class.get(label, {}).get(k) for k in _CLASS_FIGURES} for label in labels
        },
        "per_source": {
            source: {
                "n": figures.get("n"),
                "accuracy": figures.get("accuracy"),
                "labels": figures.get("labels") or {},
                "covid_vs_rest_auc": within.get(source),
            }
            for source, figures in sorted((test.get("per_source") or {}).items())
        },
        "gate_accept_rate": figures.get(
            "gate_chest_accept_rate", test.get("gate_learned_accept_rate")
        ),
    }


def _card_limitations(*, test: dict, figures: dict) -> list[str]:
    """Return what a user must know the model cannot do."""
    limitations = [
        "This is not a diagnostic device. It is for education and research only, and a "
        "clinician must read every image.",
        "The classes describe what the film shows, not a test result: covid means a pattern "
        "typical of COVID-19 pneumonia, pneumonia another pneumonia pattern, normal no "
        "pneumonia visible.",
        "Every figure here comes from test images of the same public collections the model "
        "was trained on. Images from another hospital or scanner will score lower.",
    ]
    within = test.get("covid_vs_rest_auc_within_source") or {}
    mixed = {s: auc for s, auc in within.items() if auc is not None}
    if mixed:
        aucs = ", ".join(f"{s} {auc:.2f}" for s, auc in sorted(mixed.items()))
        limitations.append(
            "In the mixed collection each source mostly holds one class, so part of what a "
            "model learns there is which source an image came from. Inside a single source "
            f"that holds both covid and other cases, its covid-vs-rest AUC is lower: {aucs}."
        )
    atypical = figures.get("siim_typical_vs_atypical_auc")
    if atypical is not None and atypical < WEAK_AUC:
        limitations.append(
            "It separates films typical of COVID-19 from other pneumonia patterns poorly "
            f"(AUC {atypical:.2f} inside one hospital network): read 'covid' as 'a pattern "
            "seen in COVID-19', never as a cause."
        )
    return limitations


def _point_limitations(*, card: Any) -> list[str]:
    """State the test set where the card's default point flags the most films without the
    finding, when that is most of them."""
    from screening.operating_summary import TEST_SETS

    name = card.default_operating_point
    point = (card.operating_points or {}).get(name) or {}
    figures = (point.get("figures") or {}).get("test") or {}
    costly = []
    for key, title in TEST_SETS:
        f = figures.get(key) or {}
        spec = (f.get("specificity") or {}).get("value")
        sens = (f.get("sensitivity") or {}).get("value")
        if spec is not None and sens is not None and spec < COSTLY_SPECIFICITY:
            costly.append((spec, sens, title))
    if not costly:
        return []
    spec, sens, title = min(costly)
    return [
        f"At the {name} point ({title}), {1 - spec:.0%} of the test films without the "
        f"finding are flagged for a second look (specificity {spec:.2f}): the price of its "
        f"sensitivity, {sens:.2f}."
    ]


def _gate_limitations(*, gate2: dict | None) -> list[str]:
    """State the worst kind of image the gate let through when it had never seen it."""
    gate = _card_gate(gate2=gate2) or {}
    source, refused = gate.get("worst_source"), gate.get("worst_refused")
    if source is None or refused is None or refused >= GATE_REFUSE_STATED:
        return []
    kinds = (gate["sources"].get(source) or {}).get("kinds") or ["images"]
    kinds = ", ".join(kind.replace("_", " ") for kind in kinds)
    lowest = (gate.get("refits") or {}).get("worst_refused_min")
    refits = ""
    if lowest is not None and lowest < refused:
        refits = (
            f" (up to {1 - lowest:.1%} of a left-out source in refits that differ by rounding only)"
        )
    elif lowest is not None:
        refits = f" (no more in {gate['refits'].get('draws')} refits that differ by rounding only)"
    return [
        f"The input gate let through {1 - refused:.1%} of the {source} images ({kinds}) "
        f"when that source was left out of its fit{refits}: an image of a kind it never saw "
        "can get through and be classified."
    ]


def _contributor_limitations(*, check: dict | None) -> list[str]:
    """State how well a film's publisher alone tells covid from the rest inside one source,
    when it does so well (training.contributor)."""
    if not check or check.get("key_only_auc") is None or check["key_only_auc"] < WEAK_AUC:
        return []
    source, key_only, auc = check["source"].capitalize(), check["key_only_auc"], check["auc"]
    text = (
        f"Inside the {source} collection, where a film was published partly gives the answer "
        f"away: the licence a test film was published under alone separates covid from the "
        f"rest at AUC {key_only:.2f}; the model does so at {auc:.2f}."
    )
    if check.get("auc_within_key") is not None:
        text += (
            f" Over the {check['pairs_within']} of its {check['pairs']} covid-vs-other pairs "
            f"whose films share a licence, the model scores {check['auc_within_key']:.2f}."
        )
    return [text]
