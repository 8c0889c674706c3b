"""The Azure Functions app: one Durable Functions app wiring the blueprints of each concern."""

import azure.durable_functions as df

from activities.jobs import bp as job_activities
from orchestrators.cancel_running_job import bp as cancel_orchestration

app = df.DFApp()
app.register_functions(cancel_orchestration)
app.register_functions(job_activities)
