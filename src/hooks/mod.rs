//! Running Claude Code hook commands: matcher, subprocess, JSON protocol, timeouts.
