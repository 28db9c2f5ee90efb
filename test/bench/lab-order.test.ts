/**
 * The lab bench's run order (test/bench/lab-bench.ts runOrder): the full bench cannot give every cell its 3
 * repetitions in 25 minutes on 2 cores, so every cell runs once first, then the cells that carry issue 10's targets
 * (shaped, 1385-byte blocks) get their other two, and the budget cuts repetitions of the unshaped and 8192-byte cells.
 */
import { describe, expect, it } from 'vitest';
import { cellName, isTargetCell, labCells, runOrder } from './lab-bench';

describe('lab bench run order', () => {
  const cells = labCells('full');
  const order = runOrder(cells, 3);

  it('runs every cell and tool 3 times', () => {
    const runs = cells.reduce((n, c) => n + c.tools.length, 0);
    expect(order).toHaveLength(3 * runs);
    for (const c of cells) for (const t of c.tools) expect(order.filter((r) => r.cell === c && r.tool === t).map((r) => r.rep)).toEqual([1, 2, 3]);
  });

  it('runs the first repetition of every cell, then the target cells\' other two, then the rest', () => {
    const targets = cells.filter(isTargetCell);
    expect(targets.map(cellName)).toEqual(cells.filter((c) => c.shapedMbit && c.blockSize === 1385).map(cellName));
    expect(targets).toHaveLength(6); // N = 1, 3, 8 x loss 0, 1 %
    const firstRep2 = order.findIndex((r) => r.rep > 1);
    expect(order.slice(0, firstRep2).every((r) => r.rep === 1)).toBe(true);
    expect(new Set(order.slice(0, firstRep2).map((r) => r.cell)).size).toBe(cells.length);
    const later = order.slice(firstRep2);
    const lastTarget = later.map((r) => isTargetCell(r.cell)).lastIndexOf(true);
    expect(later.slice(0, lastTarget + 1).every((r) => isTargetCell(r.cell))).toBe(true);
    expect(later[lastTarget]!.rep).toBe(3);
    expect(later.slice(lastTarget + 1).every((r) => !isTargetCell(r.cell))).toBe(true);
  });

  it('alternates the order of the tools within a cell between repetitions', () => {
    const c = cells.find((x) => x.tools.length === 3)!;
    const tools = (rep: number) => order.filter((r) => r.cell === c && r.rep === rep).map((r) => r.tool);
    expect(tools(1)).toEqual(c.tools);
    expect(tools(2)).toEqual([...c.tools].reverse());
    expect(tools(3)).toEqual(c.tools);
  });
});
