// A frame tree drawn as a classic flame graph: the root at the bottom, each frame a rectangle
// above its caller, as wide as its share of the samples; siblings left to right by label, so the
// same stacks line up across graphs. No script: the tooltips are <title> elements, so the file
// reads the same in a browser, an image viewer or a pull request.
import { CATEGORY_NAMES, FRAME_CATEGORIES, type Frame, type FrameCategory, type FrameTree, frameLabel, isIdleFrame } from './frame-tree.ts';

export type FlameGraphOptions = {
  title: string;
  /** A line under the title (the profile's file, its samples and duration, ...). */
  subtitle?: string;
  /** Frames with less than this share of all samples are left out, with what they called. */
  minPercent: number;
  /** Of the whole image, px. */
  width?: number;
};

/** Hue range, saturation and lightness range per category; each frame's shade comes from its name. */
const PALETTE: Record<FrameCategory, { hue: [number, number]; sat: number; light: [number, number] }> = {
  mesh: { hue: [14, 38], sat: 85, light: [55, 64] },
  node_modules: { hue: [78, 112], sat: 45, light: [50, 60] },
  node: { hue: [196, 216], sat: 55, light: [60, 70] },
  native: { hue: [0, 0], sat: 0, light: [68, 80] },
  other: { hue: [262, 286], sat: 35, light: [64, 74] },
};

/** Waiting is not work: paler than any category. */
const IDLE_COLOR = '#e4e4e4';
const FRAME_HEIGHT = 16;
const FONT_SIZE = 11;
/** Monospace glyphs are ~0.6 em wide: how labels are fitted without measuring text. */
const CHAR_WIDTH = FONT_SIZE * 0.6;
const PAD = 10;
const HEADER = 52;
const FOOTER = 34;

export function renderFlameGraphSvg(tree: FrameTree, options: FlameGraphOptions): string {
  const width = options.width ?? 1200;
  const plotWidth = width - 2 * PAD;
  const drawn = tree.samples === 0 ? [] : layoutFrames(tree, options.minPercent);
  // Not Math.max(...depths): a long-running server's profile can have more frames than a call takes arguments.
  const maxDepth = drawn.reduce((max, f) => Math.max(max, f.depth), 0);
  const height = HEADER + (maxDepth + 1) * FRAME_HEIGHT + FOOTER;

  const out: string[] = [];
  out.push('<?xml version="1.0" encoding="UTF-8"?>');
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `font-family="ui-monospace, Menlo, Consolas, monospace" font-size="${FONT_SIZE}">`,
  );
  out.push('<style>.frames rect { stroke: #fff; stroke-width: 0.5; } text { fill: #000; }</style>');
  out.push(`<rect class="background" x="0" y="0" width="${width}" height="${height}" fill="#fafafa"/>`);
  out.push(`<text class="title" x="${width / 2}" y="22" font-size="16" text-anchor="middle">${xml(options.title)}</text>`);
  if (options.subtitle) out.push(`<text class="subtitle" x="${width / 2}" y="40" fill="#555" text-anchor="middle">${xml(options.subtitle)}</text>`);
  if (tree.samples === 0) out.push(`<text x="${width / 2}" y="${HEADER + 12}" text-anchor="middle">no samples in this profile</text>`);

  out.push('<g class="frames">');
  for (const { frame, depth, start } of drawn) {
    const x = PAD + (start / tree.samples) * plotWidth;
    const w = (frame.total / tree.samples) * plotWidth;
    const y = HEADER + (maxDepth - depth) * FRAME_HEIGHT;
    const label = frameLabel(frame);
    const tooltip = `${label} — ${frame.total} sample${frame.total === 1 ? '' : 's'}, ${percent(frame.total, tree.samples)}`;
    out.push(`<g><title>${xml(tooltip)}</title>`);
    out.push(`<rect x="${num(x)}" y="${y}" width="${num(w)}" height="${FRAME_HEIGHT - 1}" fill="${frameColor(frame)}" rx="1"/>`);
    const text = fitLabel(frame, w);
    if (text) out.push(`<text x="${num(x + 3)}" y="${y + FRAME_HEIGHT - 4}">${xml(text)}</text>`);
    out.push('</g>');
  }
  out.push('</g>');

  // The legend: each category's colour and its share of the samples (self time), idle apart.
  const selfByCategory = new Map<FrameCategory, number>();
  const visit = (frame: Frame): void => {
    if (!isIdleFrame(frame)) selfByCategory.set(frame.category, (selfByCategory.get(frame.category) ?? 0) + frame.self);
    frame.children.forEach(visit);
  };
  visit(tree.root);
  const entries: [string, string][] = FRAME_CATEGORIES.map((c) => [shade(c, 0.5), `${CATEGORY_NAMES[c]} ${percent(selfByCategory.get(c) ?? 0, tree.samples)}`]);
  entries.push([IDLE_COLOR, `(idle) ${percent(tree.idleSamples, tree.samples)}`]);
  out.push('<g class="legend">');
  let lx = PAD;
  const ly = height - FOOTER + 12;
  for (const [color, text] of entries) {
    out.push(`<rect x="${lx}" y="${ly}" width="12" height="12" fill="${color}"/>`);
    out.push(`<text x="${lx + 17}" y="${ly + 10}">${xml(text)}</text>`);
    lx += 17 + Math.ceil(text.length * CHAR_WIDTH) + 20;
  }
  out.push('</g>');
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

export type PlacedFrame = {
  frame: Frame;
  /** 0 for the root. */
  depth: number;
  /** Samples left of the frame: its x in sample units. */
  start: number;
};

/**
 * The frames to draw, each at its depth and offset. A frame under `minPercent` of all samples is
 * left out with everything above it (its callees are narrower still); its siblings keep their
 * places, so every width stays proportional to its samples.
 */
export function layoutFrames(tree: FrameTree, minPercent: number): PlacedFrame[] {
  const placed: PlacedFrame[] = [];
  const minSamples = (minPercent / 100) * tree.samples;
  const place = (frame: Frame, depth: number, start: number): void => {
    if (frame.total === 0 || frame.total < minSamples) return;
    placed.push({ frame, depth, start });
    let childStart = start;
    for (const child of frame.children) {
      place(child, depth + 1, childStart);
      childStart += child.total;
    }
  };
  place(tree.root, 0, 0);
  return placed;
}

/** The label that fits `width` px: the full one, else the function's name, else its start and '…'. */
function fitLabel(frame: Frame, width: number): string | undefined {
  const room = Math.floor((width - 6) / CHAR_WIDTH);
  if (room < 3) return undefined;
  const full = frameLabel(frame);
  if (full.length <= room) return full;
  const name = frame.functionName || '(anonymous)';
  if (name.length <= room) return name;
  return `${name.slice(0, room - 1)}…`;
}

function frameColor(frame: Frame): string {
  if (isIdleFrame(frame)) return IDLE_COLOR;
  return shade(frame.category, hash(frame.functionName || frame.url));
}

/** The category's colour at `t` in [0, 1) along its hue and lightness ranges, as #rrggbb. */
function shade(category: FrameCategory, t: number): string {
  const p = PALETTE[category];
  return hslToHex(p.hue[0] + t * (p.hue[1] - p.hue[0]), p.sat, p.light[0] + (1 - t) * (p.light[1] - p.light[0]));
}

/** FNV-1a of the string, scaled to [0, 1): the same function gets the same shade in every graph. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0) / 2 ** 32;
}

function hslToHex(h: number, s: number, l: number): string {
  const sat = s / 100;
  const light = l / 100;
  const a = sat * Math.min(light, 1 - light);
  const channel = (n: number): string => {
    const k = (n + h / 30) % 12;
    const v = light - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(v * 255)
      .toString(16)
      .padStart(2, '0');
  };
  return `#${channel(0)}${channel(8)}${channel(4)}`;
}

function percent(part: number, whole: number): string {
  if (whole === 0) return '0%';
  const p = (100 * part) / whole;
  return `${p.toFixed(p >= 10 || p === 0 ? 1 : 2)}%`;
}

function num(v: number): string {
  return String(Math.round(v * 100) / 100);
}

function xml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}
