"""SkillGap's shared core: settings, Redis keys, the event contract and log, the catalog, the
learner value and store, parameters, explanations and reports. Imports only `engine`."""
