"""Names vulture reports as unused that a framework reads (`make lint` runs vulture).

Started from ``vulture --make-whitelist`` and reviewed by hand: only framework entry points and
names read by name are listed. Routes, validators, Typer commands, outbox handlers and pytest
fixtures are recognised by their decorator (``[tool.vulture] ignore_decorators``). Dead code is
deleted, not listed here. Not imported by anything; vulture only reads it.
"""

# --- pydantic / SQLModel: fields and configuration read by name (serialisation, columns) -------
model_config
# enforcement: stored for the record (who drew), read by clients (RiskPart, CampaignRead)
drawn_by
factor
candidates_digest
inspectors_digest
parameters_digest
# notices: the serious dishonesty list a notice records, read by clients (EnforcementNoticeRead)
serious_dishonesty_list
removed_on
# enforcement field inspections: who recorded (for the record), read by clients (CheckRead,
# InspectionResultPublic)
submitted_by
certificate_current
passed
inspected_on
# api/complaints
portal  # CaseSource.portal, stored and read by value
uploader_id
handling_basis
paused_since
feedback_open
suggested_location
linked_tracking_number
original_url
merged_into_tracking_number
# api/certificates: the catalogue as the API gives it (InstrumentCategoryRead)
verification_form_name
usage_areas
cycle_months
# api/instruments: stored for the record, read by clients
reviewed_by
verification_status_name
in_lab  # ApplicationMode.in_lab, stored and read by value
days_to_result  # ApplicationRead: the time to results, read by clients
result_limit_days
within_limit
action_name  # PlanItemRead: the plan item in words
# search
snippet_text  # SearchHit: the excerpt as plain text for native clients
section_url  # SearchHit: the page at the matching article, read by the search page
# credit
registry_source
registered_at
entered_by
entered_at
created_by
decided_by
review_reason
last_review_outcome
last_review_on
reply_at
last_seq
flagged_at
registered_name
enterprise_name
closes_at
open_notices
# portal
is_verified  # fastapi-users' user table column
jti
actor_role
imported_by_id

# --- SQLAlchemy: TypeDecorator hooks and metadata ---------------------------------------------
cache_ok
_.process_bind_param
_.process_result_value
_.naming_convention

# --- fastapi-users: UserManager / JWTStrategy overrides and settings --------------------------
_.reset_password_token_secret
_.verification_token_secret
_.validate_password
_.read_token

# --- structlog: the logger interface portal/middleware.py's printer implements ----------------
debug
warn
critical
fatal

# --- alembic: render_item's signature (portal/migrate.py) -------------------------------------
autogen_context

# --- Jinja2: the environment's loader (portal/web.py) -----------------------------------------
_.loader

# --- used only by a migration (portal/migrations/versions is not scanned) ---------------------
iter_divisions

# --- the `<Domain>Config` dependency every domain settings.py defines (CONTRIBUTING.md) -------
CreditConfig
SearchConfig

# --- schemathesis: the Case hook tests/fuzz overrides ------------------------------------------
_.get_call_kwargs

# --- http.server: the request handler hooks tests/portal/test_tracing.py's OTLP receiver overrides
_.do_POST
_.log_message

# --- pytest: fixtures a test requests for their effect, not their value ------------------------
open311_key
fresh_limiter
imported_only
index_engine
keys_dir

# --- ratchet: search, notices and api/certificates are being restructured on other branches
# (issue 10); review these there and delete what is really dead, then remove the lines.
_.readable  # io.RawIOBase override (api/certificates/importer.py)
_.readinto
SupervisionMode
pv
VerificationForm
initial_scrap
initial_rotation
none  # VerificationForm.none, stored and read by value
group_name
supervision_mode
verification_form
usage
source_doc
issued_by
created_on
CATEGORY_CODE
CATEGORY_NAME
MODEL
SERIAL
MANUFACTURER
OWNER_NAME
OWNER_USCC
REGION_CODE
ADDRESS
successor_number
kind_name
errors_truncated
kty
crv
issuer
generated_at
format
withdrawn_at
withdrawal_reason
SCHEMA_VERSION
engine_ms
author_id
HEAD
body_html
pages
took_ms
get_public_article
css  # api/certificates/states.py: read by the templates
icon  # api/certificates/states.py: read by the templates
meaning  # api/certificates/states.py: read by the templates
report_primary  # api/certificates/states.py: read by the templates
footer  # api/complaints/documents.py: FPDF calls it on every page
auto_reload  # portal/app.py: Jinja's Environment reads it on every get_template
subregions  # api/instruments/schemas.py: the statistics' drill-down links, read by the page and clients
resolved_by  # api/certificates/models.py: who resolved a held certificate, for the record
category_names  # api/certificates/schemas.py: response fields
reason_name  # api/certificates/schemas.py: response fields
region_name  # api/certificates/schemas.py: response fields
decidable  # api/certificates/schemas.py: a review candidate the reader may choose, read by the page and clients
pytestmark  # tests: read by pytest (tests/api/complaints/test_media.py runs on both storages)
