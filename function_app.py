"""The Azure Functions app: one Durable Functions app wiring the blueprint of each concern."""

import azure.durable_functions as df

from activities.bulk import bp as bulk_activities
from activities.guardrails import bp as guardrail_activities
from activities.jobs import bp as job_activities
from activities.outcome_events import bp as event_activities
from orchestrators.cancel_jobs import bp as bulk_orchestration
from orchestrators.cancel_running_job import bp as cancel_orchestration
from orchestrators.enforce_guardrails import bp as guardrail_orchestration
from triggers.bulk_api import bp as bulk_api
from triggers.cancellations import bp as cancellations
from triggers.guardrails import bp as guardrails
from triggers.http_api import bp as http_api
from triggers.job_alerts import bp as job_alerts
from triggers.monitor_alerts import bp as monitor_alerts

app = df.DFApp()
app.register_functions(http_api)
app.register_functions(cancellations)
app.register_functions(job_alerts)
app.register_functions(cancel_orchestration)
app.register_functions(job_activities)
app.register_functions(bulk_api)
app.register_functions(bulk_orchestration)
app.register_functions(bulk_activities)
app.register_functions(event_activities)
app.register_functions(guardrails)
app.register_functions(guardrail_orchestration)
app.register_functions(guardrail_activities)
app.register_functions(monitor_alerts)
