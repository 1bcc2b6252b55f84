"""What the interview means: templates, instructions, tools, the report and the cost.

Pure Python: no database, network or web framework, and no environment
variables; settings arrive as arguments. The only file it reads is its own
prices.json, or an override file whose path it is handed.
"""

from evaluation.cost import CallCost, CostBreakdown, CostLine, twilio_minutes
from evaluation.estimate import Estimate, EstimateAssumptions, estimate_cost
from evaluation.instructions import build_instructions, call_limit_s
from evaluation.prices import (
    PriceError,
    PriceTable,
    RealtimeRates,
    TranscriptionRates,
    TwilioRates,
    UnknownModelError,
    load_prices,
)
from evaluation.progress import InterviewProgress, ProgressStatus
from evaluation.report import QUALITY_POINTS, QuestionReport, Report, build_report
from evaluation.templates import (
    DEFAULT_TEMPLATE,
    Question,
    Rubric,
    Template,
    TemplateError,
    parse_template,
    template_to_dict,
)
from evaluation.tools import (
    END_INTERVIEW,
    EVALUATE_ANSWER,
    TOOLS,
    EndInterview,
    EvaluateAnswer,
    ToolArgumentError,
    parse_tool_call,
    tool_error_output,
    tool_ok_output,
)

__all__ = [
    "DEFAULT_TEMPLATE",
    "END_INTERVIEW",
    "EVALUATE_ANSWER",
    "QUALITY_POINTS",
    "TOOLS",
    "CallCost",
    "CostBreakdown",
    "CostLine",
    "EndInterview",
    "Estimate",
    "EstimateAssumptions",
    "EvaluateAnswer",
    "InterviewProgress",
    "PriceError",
    "PriceTable",
    "ProgressStatus",
    "Question",
    "QuestionReport",
    "RealtimeRates",
    "Report",
    "Rubric",
    "Template",
    "TemplateError",
    "ToolArgumentError",
    "TranscriptionRates",
    "TwilioRates",
    "UnknownModelError",
    "build_instructions",
    "build_report",
    "call_limit_s",
    "estimate_cost",
    "load_prices",
    "parse_template",
    "parse_tool_call",
    "template_to_dict",
    "tool_error_output",
    "tool_ok_output",
    "twilio_minutes",
]
