/**
 * Geometry of a dataset example crop: a unit of a layer's grid -> the input pixels it sees
 * (its receptive field) -> the same region of the original photo, clamped to the photo.
 * Pure functions, so the mapping is tested without images.
 */
import type { Preprocessing } from '../model/graph.js';

export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface CropGeometry {
  /** The unit: row and column in the layer's grid, and the grid's size. */
  y: number;
  x: number;
  gridHeight: number;
  gridWidth: number;
  /** Receptive field side of one unit, in model input pixels. */
  receptiveField: number;
  preprocessing: Pick<Preprocessing, 'inputSize' | 'resize'>;
  /** The original photo's size after EXIF orientation. */
  imageWidth: number;
  imageHeight: number;
}

/**
 * The unit's centre in input pixels is ((y + 0.5) * inputHeight / gridHeight, ...): exact for stacks of
 * 'same' convs and 2x2/2 pools (darknet, VGG), within a pixel or two for strided convs. Its receptive
 * field is a square of `receptiveField` input pixels around that centre; we map it back through the
 * model's resize ('stretch' scales each axis; 'center-crop' is sharp's 'cover' with centre position).
 */
export function inputBox(geometry: CropGeometry): { cy: number; cx: number; half: number } {
  const [inputHeight, inputWidth] = geometry.preprocessing.inputSize;
  return {
    cy: ((geometry.y + 0.5) * inputHeight) / geometry.gridHeight,
    cx: ((geometry.x + 0.5) * inputWidth) / geometry.gridWidth,
    half: geometry.receptiveField / 2,
  };
}

/** The crop in original photo pixels (integers, inside the photo, at least 1x1). */
export function cropBox(geometry: CropGeometry): Box {
  const [inputHeight, inputWidth] = geometry.preprocessing.inputSize;
  const { imageWidth, imageHeight } = geometry;
  const { cy, cx, half } = inputBox(geometry);
  let toOriginalX: (x: number) => number;
  let toOriginalY: (y: number) => number;
  if (geometry.preprocessing.resize === 'center-crop') {
    const scale = Math.max(inputWidth / imageWidth, inputHeight / imageHeight);
    const offsetX = (imageWidth * scale - inputWidth) / 2;
    const offsetY = (imageHeight * scale - inputHeight) / 2;
    toOriginalX = (x) => (x + offsetX) / scale;
    toOriginalY = (y) => (y + offsetY) / scale;
  } else {
    toOriginalX = (x) => (x * imageWidth) / inputWidth;
    toOriginalY = (y) => (y * imageHeight) / inputHeight;
  }
  const [left, width] = clampSpan(toOriginalX(cx - half), toOriginalX(cx + half), imageWidth);
  const [top, height] = clampSpan(toOriginalY(cy - half), toOriginalY(cy + half), imageHeight);
  return { left, top, width, height };
}

/**
 * Rounds [start, end) to whole pixels (length and start rounded separately, so a square field stays
 * square) and keeps it inside [0, size): a span that sticks out is shifted back in (the crop keeps its
 * size, so edge units still show their whole field), and a span longer than the photo becomes the photo.
 */
export function clampSpan(start: number, end: number, size: number): [number, number] {
  const length = Math.max(1, Math.min(size, Math.round(end - start)));
  const begin = Math.min(Math.max(0, Math.round(start)), size - length);
  return [begin, length];
}
