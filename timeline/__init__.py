"""The domain: offices, agents, customers, identities, entries, publish policy, the store."""
