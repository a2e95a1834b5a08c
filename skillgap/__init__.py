"""SkillGap's shared contracts: settings, catalog, event envelope, Redis layout and the CLI."""
