"""What the interview means: templates, instructions, tools, the report and the cost."""
