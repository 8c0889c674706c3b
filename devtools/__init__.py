"""Development and test tools for the cancel-running-job app; never deployed."""
