"""What the cancel-running-job workflow is made of, free of any I/O: the shapes that cross
function boundaries (``shapes``) and the timing rules for polls and retries (``schedule``)."""
