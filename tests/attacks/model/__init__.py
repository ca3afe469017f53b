"""A symbolic model of keystead's key-management rules and a bounded search over it.

rules.py states what each PKCS#11 call does to the model's state under a rule set
("compat", "strict", "strict-fixed"); search.py explores every sequence of calls up to a
bound, breadth first, and reports the ones that give the attacker a sensitive key's value;
recipes.py gives it the catalogue's attacks and names the holes it finds; replay.py runs a
model sequence against the real module, call by call. docs/policy.md says what the search
covers and what it does not.
"""
