// Prints charts/entra-rbac-guard/files/backstop.json: the backstop's fixed expressions, for the chart's templates.
import { backstopChartFile } from '../src/backstop/chart-file.ts';

process.stdout.write(backstopChartFile());
