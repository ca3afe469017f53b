/* lifecycle.c - the key states of NIST SP 800-57 Part 1 Rev. 5 section 7 as data: one table of
 * allowed transitions and one table of what each state permits (README, "Key
 * lifecycle"). Nothing else in keystead decides either question. */
#include "token/lifecycle.h"

#include "keystead.h"

#define NSTATES (KS_STATE_DESTROYED + 1)

/* EDGES[from][to] is 1 for the only allowed transitions (README, "Key lifecycle in the token"):
 *   pre-activation -> active | compromised | destroyed
 *   active         -> suspended | deactivated | compromised | destroyed
 *   suspended      -> active | deactivated | compromised | destroyed
 *   deactivated    -> compromised | destroyed
 *   compromised    -> destroyed
 *   destroyed      -> (nothing) */
static const unsigned char EDGES[NSTATES][NSTATES] = {
    /*                       PRE ACT SUS DEA COM DES */
    [KS_STATE_PRE_ACTIVATION] = {0, 1, 0, 0, 1, 1},
    [KS_STATE_ACTIVE] =         {0, 0, 1, 1, 1, 1},
    [KS_STATE_SUSPENDED] =      {0, 1, 0, 1, 1, 1},
    [KS_STATE_DEACTIVATED] =    {0, 0, 0, 0, 1, 1},
    [KS_STATE_COMPROMISED] =    {0, 0, 0, 0, 0, 1},
    [KS_STATE_DESTROYED] =      {0, 0, 0, 0, 0, 0},
};

/* What each state permits (README table). PERMIT_OVERRIDE: only when the key's
 * CKA_KS_PROCESS_OVERRIDE is true. Usage periods (dates) are checked elsewhere. */
enum { DENY = 0, PERMIT = 1, PERMIT_OVERRIDE = 2 };

/* export: the key's value may leave the token wrapped (C_WrapKey of this key). SP 800-57
 * Part 1 allows backup and archival of a deactivated key, so that it can still process what
 * it protected; a pre-activation key has no value in service yet and a destroyed one none at
 * all; a suspended key is held pending a decision (often a suspected compromise) and a
 * compromised one must not spread: neither leaves, override or not (the override admits
 * processing on this token only). */
static const struct {
    unsigned char protect;
    unsigned char process;
    unsigned char export;
    const char *name;
} STATES[NSTATES] = {
    [KS_STATE_PRE_ACTIVATION] = {DENY, DENY, DENY, "pre-activation"},
    [KS_STATE_ACTIVE] = {PERMIT, PERMIT, PERMIT, "active"},
    [KS_STATE_SUSPENDED] = {DENY, PERMIT_OVERRIDE, DENY, "suspended"},
    [KS_STATE_DEACTIVATED] = {DENY, PERMIT, PERMIT, "deactivated"},
    [KS_STATE_COMPROMISED] = {DENY, PERMIT_OVERRIDE, DENY, "compromised"},
    [KS_STATE_DESTROYED] = {DENY, DENY, DENY, "destroyed"},
};

int ks_lifecycle_valid_state(CK_ULONG state)
{
    return state < NSTATES;
}

int ks_lifecycle_allowed(CK_ULONG from, CK_ULONG to)
{
    if (!ks_lifecycle_valid_state(from) || !ks_lifecycle_valid_state(to)) {
        return 0;
    }
    return EDGES[from][to];
}

int ks_lifecycle_permits(CK_ULONG state, ks_use use, CK_BBOOL override)
{
    if (!ks_lifecycle_valid_state(state)) {
        return 0; /* fail closed on a corrupt state */
    }
    unsigned rule = use == KS_USE_PROTECT   ? STATES[state].protect
                    : use == KS_USE_PROCESS ? STATES[state].process
                                            : STATES[state].export;
    if (rule == PERMIT_OVERRIDE) {
        return override == CK_TRUE;
    }
    return rule == PERMIT;
}

const char *ks_lifecycle_state_name(CK_ULONG state)
{
    if (!ks_lifecycle_valid_state(state)) {
        return "invalid";
    }
    return STATES[state].name;
}
