/**
 * Bandit bench: cumulative regret of Thompson sampling (operators/feedback/thompson.ts, the
 * code that picks A/B variants and splits the promotion budget) against uniform allocation
 * and epsilon-greedy, on a simulated market whose click-through rates are known: each round
 * one arm is shown to one visitor, who clicks with the arm's CTR. Regret = Σ (best CTR −
 * CTR of the arm shown), the expected clicks lost to exploring. All three policies run on
 * the same markets with the same seeds, so the ratio compares like with like.
 *
 *   npm run bench -- bandit [--rounds 100000] [--seeds 8] [--arms 6] [--epsilon 0.1]
 *
 * Markets: `--arms` CTRs drawn per seed between 1% and 6% (a listing's favourites per
 * view), which makes the arms hard to tell apart: the regime a micro-test lives in.
 */
import { prng } from "../operators/backtest/search.ts"
import { posteriorOf, thompsonPick, type Random } from "../operators/feedback/thompson.ts"
import { emit, intFlag, log, numberFlag, parseFlags, round } from "./harness.ts"

interface Policy {
  readonly name: string
  readonly make: (arms: number, random: Random) => { readonly choose: () => number; readonly update: (arm: number, clicked: boolean) => void }
}

const counts = (arms: number) => ({ trials: new Array<number>(arms).fill(0), clicks: new Array<number>(arms).fill(0) })

const thompson: Policy = {
  name: "thompson",
  make: (arms, random) => {
    const c = counts(arms)
    return {
      choose: () => thompsonPick(c.trials.map((t, i) => posteriorOf(t, c.clicks[i]!)), random),
      update: (arm, clicked) => {
        c.trials[arm]!++
        if (clicked) c.clicks[arm]!++
      }
    }
  }
}

const uniform: Policy = {
  name: "uniform",
  make: (arms) => {
    let next = 0
    return { choose: () => next++ % arms, update: () => undefined }
  }
}

const epsilonGreedy = (epsilon: number): Policy => ({
  name: `epsilon-greedy-${epsilon}`,
  make: (arms, random) => {
    const c = counts(arms)
    return {
      choose: () => {
        if (random() < epsilon) return Math.floor(random() * arms)
        let best = 0
        // Unseen arms first (rate Infinity), then the best observed rate.
        const rate = (i: number) => (c.trials[i] === 0 ? Infinity : c.clicks[i]! / c.trials[i]!)
        for (let i = 1; i < arms; i++) if (rate(i) > rate(best)) best = i
        return best
      },
      update: (arm, clicked) => {
        c.trials[arm]!++
        if (clicked) c.clicks[arm]!++
      }
    }
  }
})

/** Cumulative expected regret of one policy on one market. */
const regretOf = (policy: Policy, ctrs: ReadonlyArray<number>, rounds: number, seed: number): number => {
  const best = Math.max(...ctrs)
  const policyRandom = prng(seed * 7919 + 1)
  const marketRandom = prng(seed * 104_729 + 2)
  const p = policy.make(ctrs.length, policyRandom)
  let regret = 0
  for (let r = 0; r < rounds; r++) {
    const arm = p.choose()
    regret += best - ctrs[arm]!
    p.update(arm, marketRandom() < ctrs[arm]!)
  }
  return regret
}

export const run = async (args: ReadonlyArray<string>) => {
  const flags = parseFlags(args, {
    rounds: { type: "string" },
    seeds: { type: "string" },
    arms: { type: "string" },
    epsilon: { type: "string" }
  })
  const rounds = intFlag("rounds", flags.rounds, 100_000)
  const seeds = intFlag("seeds", flags.seeds, 8)
  const arms = intFlag("arms", flags.arms, 6, 2)
  const epsilon = numberFlag("epsilon", flags.epsilon, 0.1)
  const policies = [thompson, uniform, epsilonGreedy(epsilon)]
  const totals = new Map(policies.map((p) => [p.name, [] as Array<number>]))
  for (let seed = 1; seed <= seeds; seed++) {
    const market = prng(seed)
    const ctrs = Array.from({ length: arms }, () => 0.01 + 0.05 * market())
    for (const policy of policies) totals.get(policy.name)!.push(regretOf(policy, ctrs, rounds, seed))
    log(`bandit: seed ${seed}: ctrs ${ctrs.map((c) => c.toFixed(3)).join(" ")}; regret ${policies.map((p) => `${p.name} ${totals.get(p.name)!.at(-1)!.toFixed(1)}`).join(", ")}`)
  }
  const mean = (xs: ReadonlyArray<number>) => xs.reduce((s, x) => s + x, 0) / xs.length
  const ours = totals.get("thompson")!
  for (const baseline of policies.slice(1)) {
    const theirs = totals.get(baseline.name)!
    emit({
      bench: "bandit",
      case: "thompson",
      rounds,
      seeds,
      arms,
      cumulative_regret: round(mean(ours), 1),
      per_seed: ours.map((x) => round(x, 1)),
      baseline_case: baseline.name,
      baseline_cumulative_regret: round(mean(theirs), 1),
      baseline_per_seed: theirs.map((x) => round(x, 1)),
      seeds_thompson_lower: ours.filter((x, i) => x < theirs[i]!).length,
      // Regret: lower is better, so ours / baseline below 1 means Thompson lost fewer clicks.
      ratio: round(mean(ours) / mean(theirs), 3)
    })
  }
}
