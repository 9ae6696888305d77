"""The clean/smudge filter: the one-shot commands and the long-running process."""
