"""Column names of the canonical record table and of the quarantine table."""

RECORD_ID = "record_id"
INSTRUCTION = "instruction"
INPUT = "input"
OUTPUT = "output"
METADATA = "metadata"
SOURCE_ROW = "source_row"

TEXT_FIELDS = (INSTRUCTION, INPUT, OUTPUT)
REQUIRED_FIELDS = (INSTRUCTION, OUTPUT)
CANONICAL_COLUMNS = (RECORD_ID, INSTRUCTION, INPUT, OUTPUT, METADATA, SOURCE_ROW)

# Quarantine table
FIELD = "field"
REASON = "reason"
DETAIL = "detail"
RAW = "raw"
QUARANTINE_COLUMNS = (SOURCE_ROW, FIELD, REASON, DETAIL, RAW)
