/**
 * Splits an `exec` command line into argv the way a POSIX shell would for
 * plain words and quotes — and refuses everything else. The program a command
 * runs is its scope (`shell.exec:gh`), so nothing may hide a second program
 * inside the line: pipes, `;`, `&&`, redirections, `$(…)`, backticks,
 * variables, globs, `~`, comments and subshells are refused with an error
 * that tells the model to pass `argv` or make separate calls.
 */
export class ShellWordsError extends Error {}

const UNQUOTED_REFUSED = new Map<string, string>([
  ["|", "a pipe"],
  ["&", "& (background or &&)"],
  [";", "a command separator ;"],
  ["<", "a redirection"],
  [">", "a redirection"],
  ["(", "a subshell"],
  [")", "a subshell"],
  ["$", "a variable or command substitution"],
  ["`", "command substitution"],
  ["*", "a glob"],
  ["?", "a glob"],
  ["[", "a glob"],
  ["]", "a glob"],
  ["{", "brace expansion"],
  ["}", "brace expansion"],
  ["\n", "a new line (a second command)"],
  ["\r", "a carriage return"],
]);

export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  const refuse = (what: string): never => {
    throw new ShellWordsError(`the command uses ${what}, which exec does not interpret (no shell runs): pass "argv" as a list of words, and make one call per program`);
  };
  for (let i = 0; i < line.length; i++) {
    const c = line.charAt(i);
    if (c === " " || c === "\t") {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      continue;
    }
    if (!inWord && (c === "#" || c === "~")) refuse(c === "#" ? "a comment #" : "~ (home expansion)");
    const refused = UNQUOTED_REFUSED.get(c);
    if (refused !== undefined) refuse(refused);
    inWord = true;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end === -1) throw new ShellWordsError("the command has an unterminated ' quote");
      word += line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length; j++) {
        const d = line.charAt(j);
        if (d === '"') break;
        if (d === "$" || d === "`") refuse(d === "$" ? "a variable or command substitution inside double quotes" : "command substitution inside double quotes");
        if (d === "\\" && j + 1 < line.length && '"\\$`'.includes(line.charAt(j + 1))) {
          word += line.charAt(j + 1);
          j++;
        } else word += d;
      }
      if (j >= line.length) throw new ShellWordsError('the command has an unterminated " quote');
      i = j;
    } else if (c === "\\") {
      if (i + 1 >= line.length) throw new ShellWordsError("the command ends with a lone backslash");
      const next = line.charAt(i + 1);
      if (next === "\n") refuse("a line continuation");
      word += next;
      i++;
    } else word += c;
  }
  if (inWord) words.push(word);
  if (words.length === 0) throw new ShellWordsError("the command is empty");
  return words;
}
