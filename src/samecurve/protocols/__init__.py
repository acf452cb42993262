"""The shapes of an answer, shared by tasks and arms: one module per job, each holding the
protocol(s), the context dataclass an arm is handed, helpers arms share, and a `validate_*`
function per protocol that the task calls on what an arm returns. An arm implements one or more
protocols; a task scores the ones it knows. Plain numpy arrays / token tensors in and out
(scikit-learn style).

    detection      InputDetector, ModelDetector, Attacker, AuditContext        (backdoor-audit)
    removal        RemovalEditor, RemovalContext                               (behavior-removal)
    steering       SweepSteerer, Setting, SteerContext, can_generate, steered_logits   (steering)
    truth          TruthScorer, ElkContext                                     (latent-knowledge)
    forecasting    Forecaster, ForecastContext                                 (forecast-emergence)
    faithfulness   Explainer, Compressor, FaithfulnessContext, Behaviour, Edge, Patcher
                                                                               (explanation-faithfulness)
    filtering      TextFilter, HarmContext                                     (harm-filter)
    exiting        EarlyExiter, ExitContext, ExitTrace, Stage, ExitPlan         (early-exit)
    attribution    Attributor, AttributionContext, TriggerSynthesizer, SynthesisContext
                                                                               (attribution-sanity)
    diagnosis      PoisonFinder, ConceptRanker, Fixer, Fix, TrainingPlan, DiagnosisContext  (diagnosis)
    redteam        RedTeamer, RedTeamContext                                   (red-teaming)
    cot            CotMonitor, CotContext                                      (cot-monitor)
    pressure       Trainer, PressureContext, Penalty, train_under_pressure     (optimisation-pressure)
    monitoring     TrainingMonitor, MonitorContext                             (training-monitor)
"""

from __future__ import annotations

from typing import Any

from .attribution import (AttributionContext, Attributor, SynthesisContext, TriggerSynthesizer, validate_maps,
                          validate_trigger)
from .base import ArmOutputError
from .cot import CotContext, CotMonitor, validate_episode_scores
from .diagnosis import (ConceptRanker, DiagnosisContext, Fix, Fixer, PoisonFinder, TrainingPlan, validate_fix,
                        validate_scores)
from .detection import (Attacker, AuditContext, InputDetector, ModelDetector, validate_input_scores,
                        validate_model_score, validate_triggers)
from .faithfulness import (Behaviour, Compressor, Edge, Explainer, FaithfulnessContext, Patcher,
                           validate_compressed, validate_edges)
from .exiting import EarlyExiter, ExitContext, ExitPlan, ExitTrace, Stage, validate_plan
from .filtering import HarmContext, TextFilter, validate_text_scores
from .monitoring import MonitorContext, TrainingMonitor, validate_monitor_scores
from .forecasting import ForecastContext, Forecaster, validate_checkpoint_scores
from .pressure import PressureContext, Trainer, validate_policy
from .redteam import RedTeamContext, RedTeamer, validate_guesses
from .removal import RemovalContext, RemovalEditor, validate_sweep
from .steering import Setting, SteerContext, SweepSteerer, can_generate, steered_logits, validate_settings
from .truth import ElkContext, TruthScorer, validate_truth_scores

# Every protocol a task scores. Each method takes the model as its first argument after self (a
# MeteredModel; a list of them for Forecaster; a MeteredEncoder for TextFilter).
PROTOCOLS: tuple[type, ...] = (InputDetector, ModelDetector, Attacker, RemovalEditor, SweepSteerer, TruthScorer,
                               Forecaster, Explainer, Compressor, TextFilter, EarlyExiter, Attributor,
                               PoisonFinder, ConceptRanker, RedTeamer, CotMonitor, TriggerSynthesizer, TrainingMonitor,
                               Fixer, Trainer)


def protocol_methods(protocol: type) -> tuple[str, ...]:
    """The methods a protocol asks for, in definition order."""
    return tuple(n for n, v in vars(protocol).items() if not n.startswith("_") and callable(v))


def implements(arm: Any, protocol: type) -> bool:
    """Whether an arm (class or instance) has every method of the protocol."""
    return all(callable(getattr(arm, m, None)) for m in protocol_methods(protocol))


def protocols_of(arm: Any) -> tuple[type, ...]:
    """The protocols an arm (class or instance) implements."""
    return tuple(p for p in PROTOCOLS if implements(arm, p))


__all__ = [
    "PROTOCOLS", "ArmOutputError", "Attacker", "AttributionContext", "Attributor", "AuditContext", "Behaviour", "Compressor", "ConceptRanker", "CotContext", "CotMonitor", "DiagnosisContext", "EarlyExiter", "Edge",
    "ElkContext", "ExitContext", "ExitPlan", "ExitTrace", "Explainer", "FaithfulnessContext", "ForecastContext", "Forecaster", "HarmContext", "InputDetector",
    "ModelDetector", "Patcher", "PoisonFinder", "RedTeamContext", "RedTeamer", "RemovalContext", "RemovalEditor", "Setting", "Stage", "SteerContext", "SweepSteerer",
    "TextFilter", "TruthScorer", "can_generate", "implements", "protocol_methods", "protocols_of", "steered_logits",
    "validate_checkpoint_scores", "validate_compressed", "validate_edges", "validate_input_scores", "validate_maps",
    "validate_model_score", "validate_plan", "validate_scores", "validate_sweep", "validate_settings", "validate_text_scores", "validate_triggers",
    "validate_guesses", "validate_truth_scores", "validate_episode_scores",
    "SynthesisContext", "TriggerSynthesizer", "validate_trigger",
    "Fix", "Fixer", "TrainingPlan", "validate_fix",
    "PressureContext", "Trainer", "validate_policy",
]
