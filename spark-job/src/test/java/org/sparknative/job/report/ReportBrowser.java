package org.sparknative.job.report;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebDriverException;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.logging.LogEntry;
import org.openqa.selenium.logging.LogType;
import org.openqa.selenium.logging.LoggingPreferences;

/**
 * Opens an HTML file in headless Chromium through chromedriver (Selenium), for tests of pages that must render
 * without a network: it reports the browser console's errors, the rendered size of every {@code <svg>} element, and
 * saves a screenshot of the whole page.
 *
 * <p>It uses the system's browser and driver only ({@code /usr/bin/chromium} and {@code /usr/bin/chromedriver}, or
 * the system properties {@code sparknative.chromium} and {@code sparknative.chromedriver}), so Selenium Manager never
 * downloads one. Each {@link #open} starts and quits its own browser; calls may run in parallel.
 */
public final class ReportBrowser {
    /**
     * Selenium warns that it has no CDP bindings for this Chromium version; they are not needed ({@link #open} sends
     * its one CDP command through chromedriver). Held here so the logger keeps its level.
     */
    private static final Logger DEVTOOLS_LOG = quiet("org.openqa.selenium.devtools");
    private static final Logger CHROMIUM_LOG = quiet("org.openqa.selenium.chromium");

    private ReportBrowser() {
    }

    private static Logger quiet(String name) {
        Logger log = Logger.getLogger(name);
        log.setLevel(Level.SEVERE);
        return log;
    }

    /**
     * What the browser saw.
     *
     * @param severe     the console's SEVERE entries (errors, failed loads), as {@code level message}
     * @param svgCount   how many {@code <svg>} elements the page holds
     * @param svgSizes   each one's rendered {@code [width, height]} in CSS px, in document order
     * @param pageSize   the page's full {@code [width, height]} in CSS px
     * @param screenshot the PNG written
     * @param fullPage   whether the screenshot covers the whole page (else the viewport)
     */
    public record Result(List<String> severe, int svgCount, List<double[]> svgSizes, double[] pageSize,
                         Path screenshot, boolean fullPage) {
    }

    /** @return the Chromium binary used */
    public static Path chromium() {
        return Path.of(System.getProperty("sparknative.chromium", "/usr/bin/chromium"));
    }

    /** @return the chromedriver binary used */
    public static Path chromedriver() {
        return Path.of(System.getProperty("sparknative.chromedriver", "/usr/bin/chromedriver"));
    }

    /** @return whether both Chromium and chromedriver are installed (a test skips without them) */
    public static boolean available() {
        return Files.isExecutable(chromium()) && Files.isExecutable(chromedriver());
    }

    /**
     * Loads {@code html} from its {@code file://} URL in a 1400 x 4000 headless window and waits for it to load.
     *
     * @param html           the page
     * @param screenshotPng  where to write the screenshot (its folder is created)
     * @return what the browser saw
     * @throws WebDriverException   if the browser or driver fails to start or to load the page
     * @throws UncheckedIOException if the screenshot cannot be written
     */
    public static Result open(Path html, Path screenshotPng) {
        System.setProperty("webdriver.chrome.driver", chromedriver().toString());
        ChromeDriverService service = new ChromeDriverService.Builder()
            .usingDriverExecutable(chromedriver().toFile())
            .usingAnyFreePort()
            .withSilent(true)
            .build();
        ChromeOptions options = new ChromeOptions();
        options.setBinary(chromium().toFile());
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--window-size=1400,4000", "--hide-scrollbars", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking");
        LoggingPreferences logs = new LoggingPreferences();
        logs.enable(LogType.BROWSER, Level.ALL);
        options.setCapability("goog:loggingPrefs", logs);
        ChromeDriver driver = new ChromeDriver(service, options);
        try {
            driver.manage().timeouts().pageLoadTimeout(Duration.ofSeconds(60));
            driver.get(html.toAbsolutePath().toUri().toString());
            Object state = driver.executeScript("return document.readyState");
            if (!"complete".equals(state)) {
                throw new WebDriverException("page " + html + " did not finish loading: " + state);
            }
            List<double[]> sizes = new ArrayList<>();
            Object raw = driver.executeScript("return Array.from(document.querySelectorAll('svg')).map(function (s) {"
                + " var r = s.getBoundingClientRect(); return [r.width, r.height]; })");
            for (Object o : (List<?>) raw) {
                List<?> wh = (List<?>) o;
                sizes.add(new double[] {((Number) wh.get(0)).doubleValue(), ((Number) wh.get(1)).doubleValue()});
            }
            // The body's height, not the document's: that is at least the 4000 px window.
            List<?> page = (List<?>) driver.executeScript("return [document.documentElement.scrollWidth,"
                + " Math.max(1, document.body.scrollHeight)]");
            double[] pageSize = {((Number) page.get(0)).doubleValue(), ((Number) page.get(1)).doubleValue()};
            List<String> severe = new ArrayList<>();
            for (LogEntry e : driver.manage().logs().get(LogType.BROWSER)) {
                if (e.getLevel().intValue() >= Level.SEVERE.intValue()) {
                    severe.add(e.getLevel() + " " + e.getMessage());
                }
            }
            byte[] png;
            boolean fullPage;
            try {
                Map<String, Object> shot = driver.executeCdpCommand("Page.captureScreenshot", Map.of(
                    "format", "png", "captureBeyondViewport", true, "clip",
                    Map.of("x", 0, "y", 0, "width", pageSize[0], "height", pageSize[1], "scale", 1)));
                png = Base64.getDecoder().decode((String) shot.get("data"));
                fullPage = true;
            } catch (WebDriverException e) {
                png = driver.getScreenshotAs(OutputType.BYTES);
                fullPage = false;
            }
            try {
                Path parent = screenshotPng.toAbsolutePath().getParent();
                Files.createDirectories(parent);
                Files.write(screenshotPng, png);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write screenshot " + screenshotPng, e);
            }
            return new Result(List.copyOf(severe), sizes.size(), List.copyOf(sizes), pageSize, screenshotPng,
                fullPage);
        } finally {
            driver.quit();
        }
    }
}
