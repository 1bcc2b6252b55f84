"""What the interview means: templates, instructions, tools, the report and the cost.

Pure Python: no database, network or web framework, and no environment
variables; settings arrive as arguments. The only file it reads is its own
prices.json, or an override file whose path it is handed.
"""

from evaluation.cost import CallCost, CostBreakdown, CostLine, Direction, NumberType, twilio_minutes
from evaluation.estimate import Estimate, EstimateAssumptions, estimate_cost
from evaluation.instructions import build_instructions, wrap_up_note
from evaluation.prices import (
    PriceError,
    PriceTable,
    RealtimeRates,
    TranscriptionRates,
    TwilioRates,
    UnknownModelError,
    base_model,
    load_prices,
)
from evaluation.problems import FieldProblem, field_path, field_problems, problem_lines
from evaluation.progress import WRAP_UP_S, InterviewProgress, ProgressStatus, call_limit_s
from evaluation.report import (
    COMPLETIONS,
    QUALITY_POINTS,
    Completion,
    QuestionReport,
    Report,
    build_report,
)
from evaluation.templates import (
    ANSWER_QUALITIES,
    DEFAULT_TEMPLATE,
    VOICES,
    AnswerQuality,
    Question,
    Rubric,
    Template,
    TemplateError,
    Voice,
    parse_template,
    template_to_dict,
)
from evaluation.tools import (
    END_INTERVIEW,
    EVALUATE_ANSWER,
    TOOLS,
    EndInterview,
    EndReason,
    EvaluateAnswer,
    NextAction,
    ToolArgumentError,
    ToolCall,
    parse_tool_call,
    tool_error_output,
    tool_ok_output,
)
from evaluation.usage import (
    ResponseUsage,
    TranscriptionSeconds,
    TranscriptionTokens,
    TranscriptionUsage,
)

__all__ = [
    "ANSWER_QUALITIES",
    "COMPLETIONS",
    "DEFAULT_TEMPLATE",
    "END_INTERVIEW",
    "EVALUATE_ANSWER",
    "QUALITY_POINTS",
    "TOOLS",
    "VOICES",
    "WRAP_UP_S",
    "AnswerQuality",
    "CallCost",
    "Completion",
    "CostBreakdown",
    "CostLine",
    "Direction",
    "EndInterview",
    "EndReason",
    "Estimate",
    "EstimateAssumptions",
    "EvaluateAnswer",
    "FieldProblem",
    "InterviewProgress",
    "NextAction",
    "NumberType",
    "PriceError",
    "PriceTable",
    "ProgressStatus",
    "Question",
    "QuestionReport",
    "RealtimeRates",
    "Report",
    "ResponseUsage",
    "Rubric",
    "Template",
    "TemplateError",
    "ToolArgumentError",
    "ToolCall",
    "TranscriptionRates",
    "TranscriptionSeconds",
    "TranscriptionTokens",
    "TranscriptionUsage",
    "TwilioRates",
    "UnknownModelError",
    "Voice",
    "base_model",
    "build_instructions",
    "build_report",
    "call_limit_s",
    "estimate_cost",
    "field_path",
    "field_problems",
    "load_prices",
    "parse_template",
    "parse_tool_call",
    "problem_lines",
    "template_to_dict",
    "tool_error_output",
    "tool_ok_output",
    "twilio_minutes",
    "wrap_up_note",
]
