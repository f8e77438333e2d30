from typing import ClassVar, Literal

from pydantic import Field

from autodp.operators.base import Mapper, OperatorParams, Stage
from autodp.tables.engine import sql_literal

# Order matters: specific identifiers before the looser phone pattern. Each pattern runs
# only on texts that pass its cheap precondition.
PRECONDITIONS = {
    "email": "contains({c}, '@')",
    "ssn": "regexp_matches({c}, '[0-9]{{3}}-[0-9]{{2}}-')",
    "medical_record_number": "regexp_matches({c}, '(?i)mrn|medical record|patient id')",
    "credit_card": "regexp_matches({c}, '[0-9]{{4}}')",
    "ip_address": "regexp_matches({c}, '[0-9]\\.[0-9]{{1,3}}\\.[0-9]')",
    "phone": "regexp_matches({c}, '[0-9]{{3}}')",
}
PATTERNS = {
    "email": (r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", "[EMAIL]"),
    "ssn": (r"\b\d{3}-\d{2}-\d{4}\b", "[SSN]"),
    "medical_record_number": (r"\b(MRN|medical record( number)?|patient id)\s*[:#]?\s*[A-Z0-9-]{4,}", "[MRN]"),
    "credit_card": (r"\b(?:\d[ -]?){13,16}\b", "[CARD]"),
    "ip_address": (r"\b(?:\d{1,3}\.){3}\d{1,3}\b", "[IP]"),
    "phone": (r"(?:\+?\d{1,3}[ .-]?)?\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}\b", "[PHONE]"),
}
FIELDS = ("instruction", "input", "output")


class PiiRedaction(Mapper):
    """Replaces personal identifiers in all text fields with typed placeholders: e-mail
    addresses, US social security numbers, medical record numbers, card numbers, IP
    addresses and phone numbers.

    Regular expressions only: person names are not detected (no name recogniser ships
    offline).
    """

    class Params(OperatorParams):
        kinds: list[Literal["email", "ssn", "medical_record_number", "credit_card", "ip_address", "phone"]] = Field(
            default_factory=lambda: list(PATTERNS), min_length=1, description="which identifiers to redact")

    name = "pii_redaction"
    row_local: ClassVar[bool] = True
    stage: ClassVar[Stage] = "cleaning"

    def rewrites(self) -> dict[str, str]:
        new = {}
        for column in FIELDS:
            expr = column
            for kind in PATTERNS:
                if kind in self.params.kinds:
                    pattern, placeholder = PATTERNS[kind]
                    precondition = PRECONDITIONS[kind].format(c=column)
                    replaced = f"regexp_replace({expr}, {sql_literal('(?i)' + pattern)}, '{placeholder}', 'g')"
                    expr = f"case when {precondition} then {replaced} else {expr} end"
            new[column] = expr
        return new

    def change_reason(self) -> str:
        return "pii_redacted"
