"""Multi-stage training: incremental stages (`incremental`), the replay memory they rehearse from
(`replay`) and the frozen teacher of the previous stage (`teacher`). The runner (`avssl.runner`) calls
`run_incremental` when a recipe config has a `stages` list; a stage's task gets its teacher and memory
through `task.attach_teacher(...)` / `task.attach_replay(...)`, never through paths in its model config.
"""
