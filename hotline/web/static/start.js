// Started last, once every view has registered its pages.
"use strict";
Console.start();
