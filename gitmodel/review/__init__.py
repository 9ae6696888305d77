"""``git model review``: the impact report of a candidate version against what it would
replace, for the person who approves the change.

:mod:`.build` gathers it (tensor diffs of the files that differ, metric deltas against
the stage's thresholds, lineage changes, files added or removed, the policy's dry run,
metrics across recent versions); :mod:`.lineage_changes` compares what two versions
were made from; :mod:`.render` prints it as text, JSON and Markdown; :mod:`.page` as one
self-contained HTML page with the lineage graph and a metrics chart.
"""
