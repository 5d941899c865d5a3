"""Rule packs: one folder per service kind."""
