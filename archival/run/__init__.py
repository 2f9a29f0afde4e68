"""Run stage: execute a Plan's due units (extract -> write -> record) and report what happened."""
