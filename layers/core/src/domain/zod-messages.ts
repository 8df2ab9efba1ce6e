// zod/mini loads no locale: without one every issue reads "Invalid input". English messages ("expected string,
// received undefined") are what an operator needs to fix a manifest or an event, at a few KB.
import { config } from "zod/mini";
import en from "zod/v4/locales/en.js";

config(en());
