/** Forward and backward on every head dim (1..256, odd ones included), every dtype of each device. */
import { gridSuite } from '../support/gridSuite.js';

gridSuite(['head dims'], import.meta.url);
