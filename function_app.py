"""The Azure Functions app: one Durable Functions app wiring the blueprint of each concern."""

import azure.durable_functions as df

from activities.bulk import bp as bulk_activities
from activities.jobs import bp as job_activities
from orchestrators.cancel_jobs import bp as bulk_orchestration
from orchestrators.cancel_running_job import bp as cancel_orchestration
from triggers.bulk_api import bp as bulk_api
from triggers.http_api import bp as http_api
from triggers.job_alerts import bp as job_alerts
from triggers.monitor_alerts import bp as monitor_alerts

app = df.DFApp()
app.register_functions(http_api)
app.register_functions(job_alerts)
app.register_functions(cancel_orchestration)
app.register_functions(job_activities)
app.register_functions(bulk_api)
app.register_functions(bulk_orchestration)
app.register_functions(bulk_activities)
app.register_functions(monitor_alerts)
